"""`/readyz` checks every dependency, `/metrics` counts what the service does, and
only its scraper reads it. Real uvicorn process, database, storage and Redis."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import websockets

from labeling.models import EmbeddingStatus, Image
from tests.conftest import Personas, image_row, off_loop
from tests.live_server import AsgiServer
from tests.own_redis import OwnRedis
from tests.test_consumer import headers_for

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "scrape-token-0123456789"


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus text exposition."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_]+)(\{[^}]*\})? (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(match.group(3))
    return None


def server_for(tmp_path: Path, **env: str) -> AsgiServer:
    base = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), **env}
    (tmp_path / "metrics").mkdir(exist_ok=True)
    # With the lifespan, as served: it warms the (here: no) models and says when.
    return AsgiServer(tmp_path / "media", tmp_path / "server.log", base, lifespan=True)


def test_readyz_checks_database_storage_models_and_redis(tmp_path: Path) -> None:
    if not OwnRedis.available():
        pytest.skip("redis-server is not installed")
    redis = OwnRedis(tmp_path / "redis.log")
    redis.start()
    server = server_for(tmp_path, REDIS_URL=redis.url(9))
    server.start()
    try:
        status, body = get(f"{server.url}/readyz")
        answer = json.loads(body)
        assert status == 200, (answer, server.log_tail())
        assert answer["checks"] == {
            "database": True,
            "storage": True,
            "models": True,
            "redis": True,
        }
        # The probe object was deleted again: nothing is left in the media storage.
        assert not list((tmp_path / "media").glob("readyz/*"))
        redis.stop()
        status, body = get(f"{server.url}/readyz")
        answer = json.loads(body)
        assert status == 503
        assert answer["ready"] is False and answer["checks"]["redis"] is False
        assert answer["checks"]["storage"] is True
    finally:
        server.stop()
        redis.stop()


def test_readyz_says_not_ready_when_the_media_storage_fails(tmp_path: Path) -> None:
    # The media root is a file, not a folder: nothing can be stored under it (a
    # read-only mount would do the same, but these tests may run as root).
    (tmp_path / "media").write_bytes(b"not a folder")
    server = server_for(tmp_path)
    server.start()
    try:
        status, body = get(f"{server.url}/readyz")
        assert status == 503
        assert json.loads(body)["checks"]["storage"] is False
    finally:
        server.stop()


def test_metrics_need_the_token_and_count_requests_sockets_and_backlog(
    personas: Personas, tmp_path: Path
) -> None:
    pending = image_row(personas.project, 1)
    for index in (2, 3):
        image_row(personas.project, index)
    Image.objects.exclude(pk=pending.pk).update(embedding_status=EmbeddingStatus.READY)
    server = server_for(tmp_path, ANYMASK_METRICS_TOKEN=TOKEN)
    server.start()
    headers = dict(headers_for(personas.annotator))
    host = f"127.0.0.1:{server.port}"
    extra = {"Cookie": headers[b"cookie"].decode(), "Origin": f"http://{host}"}
    url = f"{server.url}/metrics"
    seen: dict[str, str] = {}

    async def scrape_while_open() -> None:
        socket_url = f"ws://{host}/ws/images/{pending.pk}/"
        async with websockets.connect(socket_url, additional_headers=extra) as socket:
            assert json.loads(await socket.recv())["type"] == "hello"
            status, body = await asyncio.to_thread(get, url, {"Authorization": f"Bearer {TOKEN}"})
            assert status == 200
            seen["open"] = body.decode()

    try:
        assert get(url)[0] == 403
        assert get(url, {"Authorization": "Bearer wrong"})[0] == 403
        for _ in range(3):
            assert get(f"{server.url}/no-such-page/")[0] == 404
        off_loop(asyncio.run, scrape_while_open())
        deadline = time.monotonic() + 10
        while True:
            text = get(url, {"Authorization": f"Bearer {TOKEN}"})[1].decode()
            if (
                sample(text, "anymask_open_sockets", kind="image") == 0
                or time.monotonic() > deadline
            ):
                break
            time.sleep(0.1)
    finally:
        server.stop()
    during = seen["open"]
    assert sample(during, "anymask_open_sockets", kind="image") == 1
    assert sample(text, "anymask_open_sockets", kind="image") == 0
    assert sample(text, "anymask_http_requests_total", method="GET", status="404") == 3
    assert sample(text, "anymask_http_requests_total", method="GET", status="403") == 2
    count = sample(text, "anymask_http_request_duration_seconds_count", method="GET")
    assert count is not None and count >= 6
    assert sample(text, "anymask_embedding_backlog", status="pending") == 1
    assert sample(text, "anymask_embedding_backlog", status="running") == 0


def test_metrics_without_a_token_answer_loopback_clients(tmp_path: Path) -> None:
    server = server_for(tmp_path)
    server.start()
    try:
        assert get(f"{server.url}/healthz")[0] == 200
        status, body = get(f"{server.url}/metrics")
        assert status == 200
        assert sample(body.decode(), "anymask_http_requests_total", method="GET", status="200")
    finally:
        server.stop()


def test_each_job_s_duration_is_recorded_by_kind_and_outcome(tmp_path: Path) -> None:
    """Celery's task signals time every job; here in this process (a worker's own
    samples land in the same folder, and /metrics sums them)."""
    from labeling import metrics
    from labeling.tasks import compute_embedding

    def count() -> float:
        text = metrics.exposition().decode()
        found = sample(
            text, "anymask_job_duration_seconds_count", kind="compute_embedding", outcome="ok"
        )
        return found or 0.0

    before = count()
    # An image that has vanished: the job ends at once, successfully (tasks tolerate it).
    result = compute_embedding.apply(args=[987_654_321])
    assert result.successful(), result.traceback
    assert count() == before + 1


def test_queue_depth_is_read_from_the_broker_at_scrape_time(
    settings: Any, embedding_queue: str
) -> None:
    if not settings.REDIS_URL:
        pytest.skip("the embedded broker has no queue depth to report (REDIS_URL unset)")
    from labeling import metrics
    from labeling.queueing import COMPUTE_EMBEDDING, enqueue

    def depth() -> float | None:
        return sample(metrics.exposition().decode(), "anymask_queue_depth", queue=embedding_queue)

    assert depth() == 0
    enqueue(COMPUTE_EMBEDDING, 987_654_321)
    enqueue(COMPUTE_EMBEDDING, 987_654_322)
    assert depth() == 2


def test_readyz_trusts_a_storage_round_trip_for_a_while_but_never_a_failure(
    tmp_path: Path,
) -> None:
    """Probes need no login and each storage check is a write (a PUT on S3): within
    ANYMASK_READYZ_STORAGE_SECONDS of a success, no probe writes; after it, a broken
    storage shows at once."""
    server = server_for(tmp_path, ANYMASK_READYZ_STORAGE_SECONDS="2")
    server.start()
    try:
        status, body = get(f"{server.url}/readyz")
        assert status == 200, (body, server.log_tail())
        media = tmp_path / "media"
        media.rename(tmp_path / "media-away")
        media.write_bytes(b"not a folder")  # nothing can be stored now
        for _ in range(5):  # trusted: no round trip, so nothing notices yet
            status, body = get(f"{server.url}/readyz")
            assert status == 200 and json.loads(body)["checks"]["storage"] is True
        time.sleep(2.2)
        status, body = get(f"{server.url}/readyz")
        assert status == 503 and json.loads(body)["checks"]["storage"] is False
        status, body = get(f"{server.url}/readyz")  # a failure is not remembered either
        assert status == 503
        media.unlink()
        (tmp_path / "media-away").rename(media)
        status, body = get(f"{server.url}/readyz")
        assert status == 200 and json.loads(body)["checks"]["storage"] is True
    finally:
        server.stop()
