"""A web process stops at once on SIGTERM, telling its open sockets it restarts.

Real uvicorn process, real websocket, real database. The page (static/js) reconnects
at once on CLOSE_RESTARTING, to whichever node the proxy picks.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import websockets

from labeling.realtime.protocol import CLOSE_RESTARTING
from tests.conftest import Personas, image_row, off_loop
from tests.live_server import AsgiServer
from tests.test_consumer import headers_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_sigterm_closes_open_sockets_with_restarting_and_exits_quickly(
    personas: Personas, tmp_path: Path, settings: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    image = image_row(personas.project, 1)
    server = AsgiServer(tmp_path / "media", tmp_path / "server.log")
    server.start()
    assert server.process is not None
    process = server.process
    headers = dict(headers_for(personas.annotator))
    host = f"127.0.0.1:{server.port}"
    extra = {"Cookie": headers[b"cookie"].decode(), "Origin": f"http://{host}"}
    outcome: dict[str, Any] = {}

    async def open_then_sigterm() -> None:
        image_url = f"ws://{host}/ws/images/{image.pk}/"
        project_url = f"ws://{host}/ws/projects/{personas.project.pk}/"
        async with (
            websockets.connect(image_url, additional_headers=extra) as on_image,
            websockets.connect(project_url, additional_headers=extra) as on_project,
        ):
            assert json.loads(await on_image.recv())["type"] == "hello"
            await asyncio.sleep(0.3)
            outcome["sent_at"] = time.monotonic()
            process.send_signal(signal.SIGTERM)
            for name, socket in (("image", on_image), ("project", on_project)):
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(socket.recv(), 10)
                outcome[name] = closed.value.rcvd.code if closed.value.rcvd else None

    try:
        off_loop(asyncio.run, open_then_sigterm())
        process.wait(timeout=20)
        took = time.monotonic() - outcome["sent_at"]
    finally:
        server.stop()
    assert outcome["image"] == CLOSE_RESTARTING, server.log_tail()
    assert outcome["project"] == CLOSE_RESTARTING, server.log_tail()
    assert took < 3, (took, server.log_tail())
    assert "Traceback" not in server.log_tail(), server.log_tail()
