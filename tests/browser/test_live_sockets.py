"""The pages' sockets through faults: a killed web node, a Redis restart.

Real Chromium, real uvicorn processes on the test database (two of them for the
killed node: a second web process that dies without closing its sockets), and a
redis-server of the test's own for the restart.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from playwright.sync_api import expect

from labeling.models import Image, Membership, Project, Role
from labeling.services import presence
from labeling.services.projects import do_create_project
from labeling.services.uploads import do_add_image
from tests.browser.test_labeling import grey_picture
from tests.browser.test_upload_flow import log_in
from tests.conftest import PASSWORD, make_user
from tests.live_server import AsgiServer
from tests.test_redis_restart import PORT, OwnRedis, redis_missing

pytestmark = pytest.mark.django_db(transaction=True)


def person(name: str) -> Any:
    user = make_user(name)
    # The server processes use the real hashers, not the tests' fast MD5.
    user.password = make_password(PASSWORD, hasher=PBKDF2PasswordHasher())
    user.save(update_fields=["password"])
    return user


@pytest.fixture
def picture_project(embedding_queue: str, settings: Any, tmp_path: Path) -> tuple[Project, Image]:
    """fay's project with one image (its embedding is never computed: no worker), and
    gus as an annotator."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    fay = person("fay")
    project = do_create_project(fay, name="Streets")
    Membership.objects.create(project=project, user=person("gus"), role=Role.ANNOTATOR)
    image = do_add_image(project, fay, grey_picture(), "street.png")
    return project, image


def node(tmp_path: Path, name: str) -> Iterator[AsgiServer]:
    server = AsgiServer(tmp_path / "media", tmp_path / f"{name}.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def node_a(tmp_path: Path, picture_project: Any) -> Iterator[AsgiServer]:
    yield from node(tmp_path, "a")


@pytest.fixture
def node_b(tmp_path: Path, picture_project: Any) -> Iterator[AsgiServer]:
    yield from node(tmp_path, "b")


def open_label_page(
    page: Any, server: AsgiServer, who: str, project: Project, image: Image
) -> None:
    log_in(page, server.url, who)
    page.goto(f"{server.url}/projects/{project.pk}/images/{image.pk}/label/")
    expect(page.locator("#label-app")).to_have_attribute("data-ready", "true")
    expect(page.locator("#connection-status")).to_have_text("Connected")


def test_a_viewer_on_a_killed_node_vanishes_within_15_s(
    page: Any,
    browser: Any,
    node_a: AsgiServer,
    node_b: AsgiServer,
    picture_project: tuple[Project, Image],
) -> None:
    project, image = picture_project
    open_label_page(page, node_a, "fay", project, image)
    other = browser.new_context().new_page()
    try:
        open_label_page(other, node_b, "gus", project, image)
        # On another node: heard through Redis at once, or by fay's next heartbeat.
        expect(page.locator("#presence")).to_have_text(
            "Also here: gus", timeout=(presence.HEARTBEAT_SECONDS + 5) * 1000
        )
        assert node_b.process is not None
        node_b.process.send_signal(signal.SIGKILL)  # no disconnect ever runs there
        node_b.process.wait(10)
        killed = time.monotonic()
        expect(page.locator("#presence")).to_be_hidden(timeout=20_000)
        assert time.monotonic() - killed <= 15
    finally:
        other.context.close()


@pytest.fixture
def redis_node(
    tmp_path: Path, picture_project: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[AsgiServer, OwnRedis]]:
    if redis_missing():
        pytest.skip("needs redis-server")
    redis = OwnRedis(PORT)
    redis.start()
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{PORT}/0")
    try:
        yield from ((server, redis) for server in node(tmp_path, "redis"))
    finally:
        redis.kill()


def test_the_pages_say_so_and_reconnect_when_redis_restarts(
    page: Any, browser: Any, redis_node: tuple[AsgiServer, OwnRedis], picture_project: Any
) -> None:
    server, redis = redis_node
    project, image = picture_project
    open_label_page(page, server, "fay", project, image)
    grid = browser.new_context().new_page()
    try:
        log_in(grid, server.url, "fay")
        grid.goto(f"{server.url}/projects/{project.pk}/")
        expect(grid.locator("#counts")).to_have_attribute("data-live", "on")
        redis.kill()
        expect(page.locator("#connection-status")).to_contain_text("Server busy, retrying in")
        expect(page.locator("#message")).to_contain_text("live updates are restarting")
        notice = grid.locator("#live-notice")
        expect(notice).to_contain_text("Live updates are restarting")
        redis.start()
        expect(page.locator("#connection-status")).to_have_text("Connected", timeout=30_000)
        expect(grid.locator("#counts")).to_have_attribute("data-live", "on", timeout=60_000)
        expect(notice).to_be_hidden()
    finally:
        grid.context.close()
