"""The gate on concurrent requests, in the real server process: past
ANYMASK_MAX_CONCURRENT_REQUESTS a request waits, then gets 503 with Retry-After; a
slow upload still streaming its body holds no place."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection

from labeling.models import ApiToken
from labeling.services.tokens import do_create_token
from tests.conftest import make_user
from tests.live_server import AsgiServer
from tests.test_database_bounds import call

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AsgiServer]:
    env = {
        "ANYMASK_API_RATE": "",
        "ANYMASK_MAX_CONCURRENT_REQUESTS": "1",
        "ANYMASK_REQUEST_WAIT_SECONDS": "1",
    }
    running = AsgiServer(tmp_path / "media", tmp_path / "server.log", env)
    running.start()
    yield running
    running.stop()


def test_a_slow_upload_still_sending_its_body_holds_no_place(server: AsgiServer) -> None:
    token = do_create_token(make_user("uploader"), "gate")[1]
    with socket.create_connection(("127.0.0.1", server.port)) as slow:
        slow.sendall(
            b"POST /api/v1/projects/1/images HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\n"
            b"Content-Length: 1000000\r\n\r\n--x\r\n"
        )
        time.sleep(0.5)  # the server has the request; its body is far from complete
        for _ in range(3):
            status, _headers, body = call(f"{server.url}/api/v1/me", token)
            assert status == 200, body
            assert json.loads(body) == {"username": "uploader"}


def test_a_request_past_the_limit_waits_then_gets_503_with_retry_after(
    server: AsgiServer,
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("holds a request inside the gate with a PostgreSQL table lock")
    token = do_create_token(make_user("busy"), "gate")[1]
    url = f"{server.url}/api/v1/me"
    assert call(url, token)[0] == 200
    with ThreadPoolExecutor(2) as pool:
        connection.set_autocommit(False)
        try:
            with connection.cursor() as cursor:  # the first request waits on this lock
                cursor.execute(f"LOCK TABLE {ApiToken._meta.db_table} IN ACCESS EXCLUSIVE MODE")
            first = pool.submit(call, url, token)
            time.sleep(0.5)
            started = time.monotonic()
            status, headers, body = pool.submit(call, url, token).result(timeout=30)
            waited = time.monotonic() - started
        finally:
            connection.rollback()
            connection.set_autocommit(True)
        assert first.result(timeout=30)[0] == 200
    assert status == 503, body
    assert 0.8 < waited < 10  # it waited its turn (1 s) before being refused
    assert headers.get("Retry-After") == "2"
    assert json.loads(body) == {"detail": "The server is busy; try again in a few seconds."}
    assert "Traceback" not in server.log_tail(20000)
