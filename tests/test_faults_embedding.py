"""Nothing stranded by a fault: broker outages, lost tasks and killed workers.

Real processes throughout: the ASGI server (uvicorn) taking uploads over HTTP, Celery
workers encoding with a tiny random SAM, and a Redis of the test's own as their
broker, which the tests stop and restart (never the shared one).
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from celery import Celery
from django.conf import settings as django_settings
from django.test import Client

from inference.embedding import embedding_from_bytes
from inference.testing import save_tiny_sam
from labeling import embedding_store
from labeling.models import EmbeddingStatus, Image, Project
from labeling.queueing import COMPUTE_EMBEDDING, queue_of
from labeling.services.projects import do_create_project
from labeling.services.tokens import do_create_token
from tests.conftest import make_user
from tests.live_server import AsgiServer
from tests.own_redis import OwnRedis
from tests.worker_process import Worker, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not OwnRedis.available(), reason="needs redis-server to start its own"),
]

# Short enough for a test, the same code path as the defaults (60 s and 30 s).
LEASE_S, SWEEP_S = 3, 1


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny_sam(tmp_path_factory.mktemp("models") / "tiny-sam"))


@pytest.fixture(scope="module")
def shared_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnRedis]:
    own = OwnRedis(tmp_path_factory.mktemp("redis") / "redis.log")
    own.start()
    yield own
    own.stop()


@pytest.fixture(scope="module")
def server(
    django_db_setup: None,  # the server must use the test database
    django_db_blocker: Any,
    redis: OwnRedis,
    shared_media: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AsgiServer]:
    env = {"REDIS_URL": redis.url(), "ANYMASK_API_RATE": ""}
    running = AsgiServer(shared_media, tmp_path_factory.mktemp("server") / "server.log", env)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def media(settings: Any, shared_media: Path) -> Path:
    settings.MEDIA_ROOT = str(shared_media)
    return shared_media


def worker_for(redis: OwnRedis, media: Path, log: Path, **env: str | int) -> Worker:
    settings = {
        "REDIS_URL": redis.url(),
        "ANYMASK_EMBEDDING_LEASE_SECONDS": LEASE_S,
        "ANYMASK_EMBEDDING_SWEEP_SECONDS": SWEEP_S,
        **env,
    }
    return Worker(media, log, pool="solo", env={k: str(v) for k, v in settings.items()})


def picture(seed: int) -> bytes:
    from PIL import Image as PILImage

    pixels = np.random.default_rng(seed).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def project_with(model: str) -> tuple[Project, str, str]:
    """A project on `model`, its owner's API token and its owner's session cookie."""
    owner = make_user(f"owner-{uuid.uuid4().hex[:8]}")
    project = do_create_project(owner, name="Faults")
    Project.objects.filter(pk=project.pk).update(model_spec=model)
    _row, token = do_create_token(owner, "faults")
    client = Client()
    client.force_login(owner)
    return project, token, client.cookies[django_settings.SESSION_COOKIE_NAME].value


def upload(server: AsgiServer, project: Project, token: str, name: str, data: bytes) -> Any:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{server.url}/api/v1/projects/{project.pk}/images",
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["results"]


def fetch(server: AsgiServer, path: str, session: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"{server.url}{path}", headers={"Cookie": f"sessionid={session}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def row(image_id: int) -> Image:
    return Image.objects.get(pk=image_id)


def assert_embedded(image_id: int, model: str) -> None:
    image = row(image_id)
    assert image.embedding_status == EmbeddingStatus.READY
    stored = embedding_store.read_stored(embedding_store.storage_key(image.sha256, model))
    assert stored is not None
    assert embedding_from_bytes(stored, model).original_size == (240, 320)


def test_an_upload_during_a_broker_outage_is_kept_whole_and_embedded_once_it_returns(
    server: AsgiServer, redis: OwnRedis, media: Path, tiny_sam: str, tmp_path: Path
) -> None:
    project, token, session = project_with(tiny_sam)
    redis.stop()  # the broker is down: nothing can be queued
    try:
        started = time.monotonic()
        [result] = upload(server, project, token, "outage.png", picture(1))
        took = time.monotonic() - started
    finally:
        redis.start()
    assert result["status"] == "accepted", result
    assert took < 30
    image = Image.objects.get(project=project)
    assert image.embedding_status == EmbeddingStatus.PENDING
    assert image.embedding_queued_at is None  # recorded as never queued
    assert (media / str(image.file.name)).read_bytes() == picture(1)
    assert (media / str(image.thumbnail.name)).stat().st_size > 0
    base = f"/projects/{project.pk}/images/{image.pk}"
    status, body = fetch(server, f"{base}/file", session)
    assert status == 200 and body == picture(1)
    status, body = fetch(server, f"{base}/thumbnail", session)
    assert status == 200 and body.startswith(b"\xff\xd8")  # a JPEG
    # Sending it again is refused for what it is: the image is already there.
    [again] = upload(server, project, token, "again.png", picture(1))
    assert again["status"] == "refused" and "already in the project" in again["reason"]
    assert Image.objects.filter(project=project).count() == 1

    # The broker is back: a worker's start-up sweep queues what was never queued.
    worker = worker_for(redis, media, tmp_path / "worker.log")
    worker.start()
    try:
        wait_until(lambda: row(image.pk).embedding_status == "ready", "the embedding", worker)
    finally:
        worker.stop()
    assert_embedded(image.pk, tiny_sam)
    assert "its embedding task was lost; queued again" in worker.log.read_text()


def test_tasks_lost_with_a_restarted_broker_are_queued_again_by_the_workers(
    server: AsgiServer, redis: OwnRedis, media: Path, tiny_sam: str, tmp_path: Path
) -> None:
    project, token, _session = project_with(tiny_sam)
    [result] = upload(server, project, token, "lost.png", picture(2))
    assert result["status"] == "accepted"
    image = Image.objects.get(project=project)
    assert image.embedding_queued_at is not None  # sent: the task waits in Redis
    broker = Celery(broker=redis.url())
    with broker.connection_for_read() as conn:
        waiting = conn.default_channel.queue_declare(queue_of(COMPUTE_EMBEDDING), passive=True)
        assert waiting.message_count == 1
    redis.stop()  # no persistence: the queued task is gone
    redis.start()

    worker = worker_for(redis, media, tmp_path / "worker.log", ANYMASK_EMBEDDING_REQUEUE_SECONDS=1)
    worker.start()
    try:
        wait_until(lambda: row(image.pk).embedding_status == "ready", "the re-queued", worker)
    finally:
        worker.stop()
    assert_embedded(image.pk, tiny_sam)
    assert row(image.pk).embedding_attempts == 1


def test_a_worker_killed_mid_encode_is_detected_and_its_image_re_run_within_seconds(
    server: AsgiServer, redis: OwnRedis, media: Path, tiny_sam: str, tmp_path: Path
) -> None:
    """SIGKILL: no chance to say goodbye, and Redis keeps the task unacknowledged for
    its visibility timeout (6 h). The lease expires within LEASE_S instead."""
    victim = worker_for(redis, media, tmp_path / "victim.log", ANYMASK_TEST_ENCODE_DELAY_MS=120_000)
    victim.start()
    rescuer = worker_for(redis, media, tmp_path / "rescuer.log")
    try:
        project, token, _session = project_with(tiny_sam)
        upload(server, project, token, "victim.png", picture(3))
        image = Image.objects.get(project=project)
        wait_until(lambda: row(image.pk).embedding_status == "running", "the encode", victim)
        leased = row(image.pk)
        assert leased.embedding_lease_owner.split(":")[1] == str(victim.process.pid)  # type: ignore[union-attr]
        rescuer.start()
        time.sleep(LEASE_S)  # the rescuer is up and sweeping; the victim's lease is live
        assert row(image.pk).embedding_status == "running"
        killed = time.monotonic()
        assert victim.process is not None
        os.kill(victim.process.pid, signal.SIGKILL)
        victim.process.wait()
        wait_until(lambda: row(image.pk).embedding_status == "ready", "the re-run", rescuer, 60)
        recovered = time.monotonic() - killed
    finally:
        victim.stop()
        rescuer.stop()
    # Lease, plus a sweep, plus the tiny encode: seconds, not the broker's 6 h.
    assert recovered < LEASE_S + SWEEP_S + 20
    assert_embedded(image.pk, tiny_sam)
    final = row(image.pk)
    assert final.embedding_attempts == 2  # the killed run, then the re-run
    assert final.embedding_lease_owner == "" and final.embedding_lease_expires is None
    assert "its worker stopped mid-task; queued again" in rescuer.log.read_text()


def test_an_encode_longer_than_the_lease_runs_once_even_when_its_task_is_delivered_twice(
    server: AsgiServer, redis: OwnRedis, media: Path, tiny_sam: str, tmp_path: Path
) -> None:
    slow_ms = (LEASE_S * 3 + 2) * 1000  # three leases long: only the heartbeat keeps it
    slow = worker_for(redis, media, tmp_path / "slow.log", ANYMASK_TEST_ENCODE_DELAY_MS=slow_ms)
    slow.start()
    other = worker_for(redis, media, tmp_path / "other.log")
    try:
        project, token, _session = project_with(tiny_sam)
        upload(server, project, token, "slow.png", picture(4))
        image = Image.objects.get(project=project)
        wait_until(lambda: row(image.pk).embedding_status == "running", "the encode", slow)
        other.start()
        # A second delivery of the same task (as Redis redelivers after its
        # visibility timeout): the other worker must leave the live encode alone.
        Celery(broker=redis.url()).send_task(
            COMPUTE_EMBEDDING, args=[image.pk], queue=queue_of(COMPUTE_EMBEDDING)
        )
        wait_until(
            lambda: "being encoded by another worker; skipping" in other.log.read_text(),
            "the duplicate to be skipped",
            other,
        )
        wait_until(lambda: row(image.pk).embedding_status == "ready", "the slow encode", slow)
        time.sleep(LEASE_S + SWEEP_S)  # any wrong re-queue would have run by now
    finally:
        slow.stop()
        other.stop()
    assert_embedded(image.pk, tiny_sam)
    assert row(image.pk).embedding_attempts == 1  # encoded once
    assert "stopped mid-task" not in other.log.read_text()
    assert "was lost" not in slow.log.read_text()  # the heartbeat held it throughout
