"""Every log line of a request carries its request id, every line of a socket its
socket id (labeling/log_context.py), in JSON lines; real uvicorn process."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.conftest import Personas, image_row, off_loop
from tests.live_server import AsgiServer
from tests.test_consumer import headers_for

pytestmark = pytest.mark.django_db(transaction=True)


def get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def json_lines(server: AsgiServer) -> list[dict[str, Any]]:
    lines = []
    for line in server.log_tail(200_000).splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def wait_for_line(server: AsgiServer, match: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [line for line in json_lines(server) if match(line)]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no such log line:\n{server.log_tail()}")


def test_a_request_s_log_line_and_response_carry_its_id(tmp_path: Path) -> None:
    server = AsgiServer(tmp_path / "media", tmp_path / "server.log", {"ANYMASK_LOG_FORMAT": "json"})
    server.start()
    try:
        status, headers = get(f"{server.url}/no-such-page/", {"X-Request-ID": "from-proxy-42"})
        assert status == 404
        assert headers["x-request-id"] == "from-proxy-42"
        line = wait_for_line(server, lambda line: "/no-such-page/" in line["message"])
        assert line["request_id"] == "from-proxy-42"
        assert line["level"] == "WARNING" and line["logger"] == "django.request"
        # A header that is not a short token is replaced, never written into the log.
        status, headers = get(f"{server.url}/other-page/", {"X-Request-ID": "a b\tc" * 40})
        assert status == 404
        generated = headers["x-request-id"]
        assert generated and " " not in generated and len(generated) <= 64
        line = wait_for_line(server, lambda line: "/other-page/" in line["message"])
        assert line["request_id"] == generated
        # Without a header, each request gets a fresh one.
        _, first = get(f"{server.url}/healthz", {})
        _, second = get(f"{server.url}/healthz", {})
        assert first["x-request-id"] != second["x-request-id"]
    finally:
        server.stop()


def test_a_socket_s_log_lines_carry_its_socket_id(personas: Personas, tmp_path: Path) -> None:
    image = image_row(personas.project, 1)
    server = AsgiServer(tmp_path / "media", tmp_path / "server.log", {"ANYMASK_LOG_FORMAT": "json"})
    server.start()
    headers = dict(headers_for(personas.annotator))
    host = f"127.0.0.1:{server.port}"
    extra = {"Cookie": headers[b"cookie"].decode(), "Origin": f"http://{host}"}

    async def open_and_close() -> None:
        url = f"ws://{host}/ws/images/{image.pk}/"
        async with websockets.connect(url, additional_headers=extra) as socket:
            assert json.loads(await socket.recv())["type"] == "hello"

    try:
        off_loop(asyncio.run, open_and_close())
        off_loop(asyncio.run, open_and_close())
        wait_for_line(server, lambda line: "socket closed" in line["message"])
        lines = json_lines(server)
        opens = [line for line in lines if line["message"].startswith("socket open")]
        closes = [line for line in lines if line["message"].startswith("socket closed")]
        assert len(opens) == 2, server.log_tail()
        assert opens[0]["socket_id"] != opens[1]["socket_id"]
        # The close of each socket is logged under the same id as its open.
        deadline = time.monotonic() + 10
        while len(closes) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            closes = [line for line in json_lines(server) if "socket closed" in line["message"]]
        assert {line["socket_id"] for line in closes} == {line["socket_id"] for line in opens}
        assert all("request_id" not in line for line in opens + closes)
    finally:
        server.stop()
