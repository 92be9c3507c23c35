"""Shared fixtures: the four personas, a project, image bytes, and broker access.

Every test runs against the real database (SQLite locally, PostgreSQL in CI), real
file storage in a temporary directory, and the real Celery broker (a directory
locally, Redis in CI).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from PIL import Image as PILImage

from labeling.models import Image, Membership, Project, Role

# The S3 server fixtures (`s3_server`, `s3_storage`) for the object-storage tests.
pytest_plugins = ["tests.own_s3"]

PASSWORD = "correct-horse-battery-staple"


@dataclass
class Personas:
    project: Project
    owner: User
    annotator: User
    reviewer: User
    outsider: User

    def client(self, who: str) -> Client:
        client = Client()
        client.force_login(getattr(self, who))
        return client


@pytest.fixture(autouse=True)
def _test_settings(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    # Real hashing costs ~0.3 s per user; tests create several users each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests reuse user ids and make API calls fast; the test of the budget sets its own.
    settings.ANYMASK_API_RATE = ""


def make_user(username: str) -> User:
    return User.objects.create_user(username, f"{username}@example.com", PASSWORD)


@pytest.fixture
def personas(db: None) -> Personas:
    """A project owned by `owner`, with an annotator and a reviewer; plus an outsider
    who owns a project of their own (so "not found" is never just "no projects")."""
    owner, annotator, reviewer, outsider = (
        make_user(name) for name in ("owner", "annie", "rita", "oscar")
    )
    project = Project.objects.create(name="Streets", created_by=owner)
    Membership.objects.create(project=project, user=owner, role=Role.ADMIN)
    Membership.objects.create(project=project, user=annotator, role=Role.ANNOTATOR)
    Membership.objects.create(project=project, user=reviewer, role=Role.REVIEWER)
    elsewhere = Project.objects.create(name="Oscar's own", created_by=outsider)
    Membership.objects.create(project=elsewhere, user=outsider, role=Role.ADMIN)
    return Personas(project, owner, annotator, reviewer, outsider)


def image_row(project: Project, index: int, size: tuple[int, int] = (10, 10)) -> Image:
    """An image row without pixels (named "<index>.png"): for tests of rows and
    rules, where nothing reads the file."""
    return Image.objects.create(
        project=project, file=f"{index}.png", original_name=f"{index}.png", format="PNG",
        width=size[0], height=size[1], sha256=f"{index:064x}", byte_size=1,
    )  # fmt: skip


def image_bytes(
    fmt: str = "PNG",
    size: tuple[int, int] = (64, 48),
    color: tuple[int, int, int] = (200, 30, 30),
    **save: Any,
) -> bytes:
    """A small, valid image in `fmt`; vary `color` to get distinct content."""
    out = io.BytesIO()
    PILImage.new("RGB", size, color).save(out, format=fmt, **save)
    return out.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def drain_queue(queue: str) -> list[tuple[str, list[Any]]]:
    """Remove and return (task name, args) of every message waiting in a broker queue."""
    from labeling.celery_app import app

    found = []
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            args, _kwargs, _embed = message.decode()
            found.append((message.headers["task"], list(args)))
    return found


@pytest.fixture
def embedding_queue(settings: Any) -> Iterator[str]:
    """The embeddings queue, emptied before and after the test."""
    queue = settings.CELERY_QUEUE_EMBEDDINGS
    drain_queue(queue)
    yield queue
    drain_queue(queue)


T = TypeVar("T")


def off_loop(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a service call in a thread of its own, as a view or worker would: browser
    tests may leave an event loop running in this one, where the channel layer's
    async_to_sync cannot publish."""

    def call_and_close() -> T:
        try:
            return call(*args, **kwargs)
        finally:
            # The thread ends here: its connection must go back to the pool (with
            # ANYMASK_DB_POOL_SIZE), or every call would keep one checked out.
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call_and_close).result(timeout=30)
