"""Presence rows live exactly as long as their sockets (labeling/realtime/heartbeat.py).

A socket that closes deletes its row at once, however early; a socket that dies
without closing (its web process was killed) stops counting after STALE_SECONDS and
is swept by the next heartbeat anywhere, which tells the image's other viewers.
Real ASGI application, database and channel layer.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from django.utils import timezone

from labeling.models import Image, Presence
from labeling.services import presence
from tests.conftest import Personas, image_row, off_loop
from tests.live_server import AsgiServer
from tests.test_consumer import LoopThread, Socket, headers_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def runner() -> Iterator[LoopThread]:
    running = LoopThread()
    yield running
    running.close()


@pytest.fixture
def image(personas: Personas) -> Image:
    return image_row(personas.project, 1)


def test_a_socket_closed_right_after_hello_leaves_no_row(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    for _ in range(5):
        socket = Socket(runner, image.pk, headers_for(personas.annotator))
        assert socket.connect()[0]
        assert socket.receive()["type"] == "hello"
        socket.disconnect()
    closed_at_once = Socket(runner, image.pk, headers_for(personas.annotator))
    assert closed_at_once.connect()[0]
    closed_at_once.disconnect()  # before even reading hello
    assert Presence.objects.count() == 0


def test_a_dead_socket_s_viewer_vanishes_and_its_row_is_swept(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    # rita's socket on a web process that was killed: its row, refreshed just now,
    # will never be refreshed or deleted by its owner again.
    Presence.objects.create(
        channel_name="specific.dead-node!gone", image=image, user=personas.reviewer,
        seen_at=timezone.now(),
    )  # fmt: skip
    annie = Socket(runner, image.pk, headers_for(personas.annotator))
    assert annie.connect()[0]
    assert annie.receive()["type"] == "hello"
    annie.skip_presence = False
    assert annie.receive(5) == {"type": "presence", "viewers": ["annie", "rita"]}
    opened = time.monotonic()
    gone = annie.receive(presence.STALE_SECONDS + presence.HEARTBEAT_SECONDS + 3)
    assert gone == {"type": "presence", "viewers": ["annie"]}
    waited = time.monotonic() - opened
    assert presence.STALE_SECONDS - 1 <= waited <= 15
    assert list(Presence.objects.values_list("user__username", flat=True)) == ["annie"]
    # annie's own row, refreshed by her socket's heartbeat, still counts.
    assert presence.viewers_of([image.pk]) == {image.pk: ["annie"]}
    seen = Presence.objects.get().seen_at
    assert (timezone.now() - seen).total_seconds() <= presence.HEARTBEAT_SECONDS + 1


def test_sockets_closed_right_after_hello_on_a_real_server_leave_no_rows(
    personas: Personas, image: Image, tmp_path: Path, settings: Any
) -> None:
    """uvicorn raises when the server sends to a client that just left (here: the
    presence push right after hello); the consumer must still delete its row."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    server = AsgiServer(tmp_path / "media", tmp_path / "server.log")
    server.start()
    headers = dict(headers_for(personas.annotator))
    host = f"127.0.0.1:{server.port}"
    extra = {"Cookie": headers[b"cookie"].decode(), "Origin": f"http://{host}"}

    async def hello_and_leave() -> None:
        url = f"ws://{host}/ws/images/{image.pk}/"
        async with websockets.connect(url, additional_headers=extra) as socket:
            assert json.loads(await socket.recv())["type"] == "hello"

    try:
        for _ in range(10):
            # In a thread of its own: a browser test earlier in the run may leave an
            # event loop running in this one, where asyncio.run refuses to start.
            off_loop(asyncio.run, hello_and_leave())
        # Well under STALE_SECONDS: the rows were deleted, not swept as stale.
        deadline = time.monotonic() + presence.STALE_SECONDS - 2
        while Presence.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        left = list(Presence.objects.values_list("channel_name", flat=True))
        assert left == [], server.log_tail()
        assert "Traceback" not in server.log_tail(), server.log_tail()
    finally:
        server.stop()
