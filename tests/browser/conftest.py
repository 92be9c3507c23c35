"""Headless Chromium (Debian's package) driven by playwright, against a live server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from inference.testing import save_tiny_sam
from tests.conftest import drain_queue
from tests.live_server import AsgiServer
from tests.worker_process import Worker

CHROMIUM = os.environ.get("ANYMASK_CHROMIUM", "/usr/bin/chromium")
# These flags keep Chromium from phoning home, which this network would refuse.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # playwright's sync API runs an event loop in this thread; the ORM calls the tests
    # make around it are ordinary blocking calls, which Django must be told are fine.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


# The labeling stack: the real ASGI server and a worker, one of each per test module
# that asks (modules stay independent; the tests within one share the processes).
@pytest.fixture(scope="module")
def shared_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny_sam(tmp_path_factory.mktemp("models") / "tiny-sam"))


@pytest.fixture(scope="module")
def stack(
    django_db_setup: None,  # both processes must use the test database
    django_db_blocker: Any,
    shared_media: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[AsgiServer, Worker]]:
    """The ASGI server and a worker, shared by the tests of this module."""
    logs = tmp_path_factory.mktemp("logs")
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)
    server = AsgiServer(shared_media, logs / "server.log")
    worker = Worker(shared_media, logs / "worker.log")
    worker.start()
    server.start()
    yield server, worker
    server.stop()
    worker.stop()


@pytest.fixture
def server(stack: tuple[AsgiServer, Worker], settings: Any, shared_media: Path) -> AsgiServer:
    settings.MEDIA_ROOT = str(shared_media)
    return stack[0]


@pytest.fixture
def worker(stack: tuple[AsgiServer, Worker]) -> Worker:
    return stack[1]


@pytest.fixture
def no_script_errors(page: Any) -> Iterator[None]:
    """Any uncaught exception in the page's scripts fails the test."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield
    assert not errors, errors
