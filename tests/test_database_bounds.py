"""A burst of requests waits or is refused cleanly; it never exhausts PostgreSQL.

Against the real ASGI server process: each web process borrows from a bounded
connection pool (ANYMASK_DB_POOL_SIZE), and lets in a bounded number of requests at
once (ANYMASK_MAX_CONCURRENT_REQUESTS); the rest wait, then get 503 with
Retry-After. Only meaningful on PostgreSQL (SQLite has no server connections).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from pathlib import Path

import pytest
from django.db import connection

from labeling.models import ApiToken
from labeling.services.tokens import do_create_token
from tests.conftest import Personas, make_user
from tests.live_server import AsgiServer

pytestmark = pytest.mark.django_db(transaction=True)

POOL = 4
APP_NAME = "anymask-bounds-test"


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("connection bounds concern PostgreSQL (DATABASE_URL is not postgres://)")


def serve(tmp_path: Path, **env: str) -> AsgiServer:
    settings = {
        "ANYMASK_API_RATE": "",
        "ANYMASK_DB_POOL_SIZE": str(POOL),
        "PGAPPNAME": APP_NAME,
        **env,
    }
    server = AsgiServer(tmp_path / "media", tmp_path / "server.log", settings)
    server.start()
    return server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AsgiServer]:
    running = serve(tmp_path)
    yield running
    running.stop()


def call(url: str, token: str) -> tuple[int, Message, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def server_connections() -> int:
    """The server's connections (libpq names them by PGAPPNAME)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [APP_NAME]
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def test_200_concurrent_api_calls_get_answers_and_no_500s_within_the_pool(
    server: AsgiServer, personas: Personas
) -> None:
    tokens = [do_create_token(user, "burst")[1] for user in (personas.owner, personas.annotator)]
    urls = [f"{server.url}/api/v1/projects/{personas.project.pk}/images", f"{server.url}/api/v1/me"]
    most = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal most
        while not stop.is_set():
            most = max(most, server_connections())
            time.sleep(0.02)
        connection.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(200) as pool:
            answers = list(pool.map(lambda i: call(urls[i % 2], tokens[i % 2]), range(200)))
    finally:
        stop.set()
        watcher.join()
    statuses = Counter(status for status, _headers, _body in answers)
    assert set(statuses) <= {200, 429, 503}, (statuses, server.log_tail())
    assert statuses[200] >= 100  # most wait their turn rather than being refused
    for status, headers, body in answers:
        if status == 503:
            assert headers.get("Retry-After") and "busy" in json.loads(body)["detail"]
    assert 0 < most <= POOL, f"{most} connections for a pool of {POOL}"


def test_a_request_that_cannot_get_a_connection_in_time_is_a_503_not_a_500(
    tmp_path: Path, personas: Personas
) -> None:
    server = serve(tmp_path, ANYMASK_DB_POOL_SIZE="1", ANYMASK_DB_POOL_TIMEOUT="1")
    token = do_create_token(make_user("burst"), "one")[1]
    url = f"{server.url}/api/v1/me"
    try:
        assert call(url, token)[0] == 200
        # Hold the token table: the first request takes the pool's only connection
        # and waits on the lock; the second cannot get a connection within 1 s.
        with ThreadPoolExecutor(2) as pool:
            connection.set_autocommit(False)
            try:
                with connection.cursor() as cursor:
                    cursor.execute(f"LOCK TABLE {ApiToken._meta.db_table} IN ACCESS EXCLUSIVE MODE")
                first = pool.submit(call, url, token)
                time.sleep(0.5)
                second = pool.submit(call, url, token)
                status, headers, body = second.result(timeout=30)
            finally:
                connection.rollback()
                connection.set_autocommit(True)
            assert first.result(timeout=30)[0] == 200  # it waited, then was answered
    finally:
        server.stop()
    assert status == 503, body
    assert headers.get("Retry-After") == "2"
    assert json.loads(body) == {"detail": "The server is busy; try again in a few seconds."}
    assert call_log_has_no_traceback(server)


def call_log_has_no_traceback(server: AsgiServer) -> bool:
    return "Traceback" not in server.log_tail(20000)


def test_connections_the_server_killed_are_replaced_before_the_next_request(
    personas: Personas, server: AsgiServer
) -> None:
    """pg_terminate_backend (as a failover or an operator does) ends every pooled
    connection: the next requests must get fresh ones, not a 500 on a dead one."""
    _, token = do_create_token(personas.owner, "pool")
    url = f"{server.url}/api/v1/projects/{personas.project.pk}"
    assert call(url, token)[0] == 200
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s",
            [APP_NAME],
        )
        row = cursor.fetchone()
    assert row is not None and row[0] >= 1
    assert [call(url, token)[0] for _ in range(POOL + 1)] == [200] * (POOL + 1), server.log_tail()
