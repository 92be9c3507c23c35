"""A Redis restart, seen from the sockets (labeling/realtime/outage.py).

A real redis-server of the test's own (port ANYMASK_TEST_REDIS_PORT, 6395 unless
set) carries the channel layer; the test kills it and starts it again. Open sockets
must close with 4503 (the page retries), handshakes during the outage must be
refused cleanly (no exception, so no HTTP 500, and no error in the log), and the
first handshake after Redis is back must succeed and get pushes again.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket as sockets
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from labeling.models import Image
from labeling.services.annotations import do_create_annotation
from labeling.settings import redis_channel_layer
from tests.conftest import Personas, image_row, off_loop
from tests.test_consumer import LoopThread, Socket, headers_for
from tests.test_project_socket import mask


def redis_missing() -> bool:
    return shutil.which("redis-server") is None


pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(redis_missing(), reason="needs redis-server"),
]

PORT = int(os.environ.get("ANYMASK_TEST_REDIS_PORT", "6395"))


class OwnRedis:
    """A redis-server on 127.0.0.1:PORT without persistence, to kill and restart."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with sockets.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis(settings: Any) -> Iterator[OwnRedis]:
    server = OwnRedis(PORT)
    server.start()
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(f"redis://127.0.0.1:{PORT}/0")}
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def runner() -> Iterator[LoopThread]:
    running = LoopThread()
    yield running
    running.close()


@pytest.fixture
def image(personas: Personas) -> Image:
    return image_row(personas.project, 1)


def paths(image: Image) -> dict[str, str]:
    return {"image": f"/ws/images/{image.pk}/", "project": f"/ws/projects/{image.project_id}/"}


def open_socket(runner: LoopThread, personas: Personas, path: str) -> Socket:
    socket = Socket(runner, 0, headers_for(personas.annotator), path=path)
    accepted, _ = socket.connect()
    assert accepted
    assert socket.receive(10)["type"] == "hello"
    return socket


def test_a_redis_restart_closes_sockets_for_retry_and_they_come_back(
    runner: LoopThread, personas: Personas, image: Image, redis: OwnRedis, caplog: Any
) -> None:
    caplog.set_level(logging.INFO)
    open_sockets = {kind: open_socket(runner, personas, p) for kind, p in paths(image).items()}

    redis.kill()
    for kind, socket in open_sockets.items():
        assert socket.receive(timeout=15) == {"closed": 4503}, kind

    # During the outage a handshake is refused: a close, not an exception (a 500).
    for path in paths(image).values():
        assert Socket(runner, 0, headers_for(personas.annotator), path=path).connect()[0] is False

    redis.start()
    # The first reconnect after Redis returns succeeds, and pushes flow again.
    back = {kind: open_socket(runner, personas, path) for kind, path in paths(image).items()}
    off_loop(do_create_annotation, image, personas.owner, rle=mask(), source="manual")
    assert back["image"].receive(10)["type"] == "annotation.created"
    assert back["project"].receive(10) == {"type": "changed"}

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def test_the_first_handshake_after_a_quick_restart_succeeds(
    runner: LoopThread, personas: Personas, image: Image, redis: OwnRedis, caplog: Any
) -> None:
    """Redis is back before anyone tried: the pooled connections from before the
    restart are all stale, and the first handshake must not be the one to find out."""
    caplog.set_level(logging.INFO)
    first = {kind: open_socket(runner, personas, path) for kind, path in paths(image).items()}
    # Pushes put more connections in the pool, all stale after the restart.
    off_loop(do_create_annotation, image, personas.owner, rle=mask(), source="manual")
    assert first["image"].receive(10)["type"] == "annotation.created"
    redis.kill()
    redis.start()
    for socket in first.values():
        assert socket.receive(timeout=15) == {"closed": 4503}
    again = {kind: open_socket(runner, personas, p) for kind, p in paths(image).items()}
    off_loop(do_create_annotation, image, personas.owner, rle=mask(), source="manual")
    assert again["image"].receive(10)["type"] == "annotation.created"
    assert again["project"].receive(10) == {"type": "changed"}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
