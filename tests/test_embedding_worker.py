"""Embeddings computed by a real Celery worker process (not eager mode).

The worker runs tiny random SAM / SAM 2 checkpoints saved with `save_pretrained`,
loaded through the same local-directory path as real weights. It uses the test
database and the real broker: a directory locally, Redis in CI.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command

from inference import Prompt, load_model
from inference.embedding import embedding_from_bytes
from inference.testing import save_tiny_sam, save_tiny_sam2
from labeling import embedding_store as embeddings
from labeling.models import EmbeddingStatus, Image
from labeling.queueing import COMPUTE_EMBEDDING, enqueue
from labeling.services.projects import do_create_project, do_update_project
from labeling.services.uploads import do_add_image
from tests.conftest import drain_queue, make_user
from tests.worker_process import Worker, wait_until

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("models")
    return {
        "sam": str(save_tiny_sam(root / "tiny-sam")),
        "sam2": str(save_tiny_sam2(root / "tiny-sam2")),
        "broken": str(_not_sam(root / "not-sam")),
    }


def _not_sam(path: Path) -> Path:
    path.mkdir()
    (path / "config.json").write_text('{"model_type": "bert"}')
    (path / "model.safetensors").write_bytes(b"")
    return path


@pytest.fixture(scope="module")
def shared_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def worker(
    django_db_setup: None,  # the worker must connect to the test database, not the real one
    django_db_blocker: Any,
    shared_media: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Worker]:
    from django.conf import settings

    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)  # nothing left over from other tests
    running = Worker(shared_media, tmp_path_factory.mktemp("worker") / "worker.log")
    running.start()
    yield running
    running.stop()


@pytest.fixture
def media(settings: Any, shared_media: Path) -> Path:
    settings.MEDIA_ROOT = str(shared_media)
    settings.ANYMASK_EXTRA_MODELS = []
    return shared_media


def statuses(*images: Image) -> list[str]:
    return [Image.objects.get(pk=i.pk).embedding_status for i in images]


def picture(seed: int, size: tuple[int, int] = (320, 240)) -> io.BytesIO:
    from PIL import Image as PILImage

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, format="PNG")
    out.seek(0)
    return out


def project_with(spec: str) -> tuple[Any, Any]:
    owner = make_user(f"owner{time.monotonic_ns()}")
    project = do_create_project(owner, name="Embeddings")
    project.model_spec = spec
    project.save()
    return owner, project


def test_uploads_are_embedded_by_the_worker_and_decode_end_to_end(
    worker: Worker, media: Path, models_dir: dict[str, str]
) -> None:
    owner, project = project_with(models_dir["sam"])
    first = do_add_image(project, owner, picture(1), "one.png")
    second = do_add_image(project, owner, picture(2, (200, 300)), "two.png")
    wait_until(lambda: statuses(first, second) == ["ready", "ready"], "two embeddings", worker)

    key = embeddings.storage_key(second.sha256, models_dir["sam"])
    stored = embeddings.read_stored(key)
    assert stored is not None
    embedding = embedding_from_bytes(stored, models_dir["sam"])
    assert embedding.original_size == (300, 200)
    candidates = load_model(models_dir["sam"]).decode(embedding, Prompt.click(50, 120))
    assert len(candidates) == 3 and candidates[0].rle["size"] == [300, 200]


def test_the_worker_tells_the_project_group_when_an_embedding_is_ready(
    worker: Worker, media: Path, settings: Any, models_dir: dict[str, str]
) -> None:
    if not settings.REDIS_URL:
        pytest.skip("the in-memory channel layer cannot carry events between processes")
    from channels.layers import get_channel_layer

    from labeling.events import project_group

    layer = get_channel_layer()
    assert layer is not None
    owner, project = project_with(models_dir["sam"])

    async def listen_until_ready() -> list[dict[str, Any]]:
        channel = await layer.new_channel()
        await layer.group_add(project_group(project.pk), channel)
        subscribed.set()
        events: list[dict[str, Any]] = []
        while not events or events[-1].get("embedding") != "ready":
            events.append(await asyncio.wait_for(layer.receive(channel), 60))
        return events

    subscribed = threading.Event()
    # Its own thread and loop: browser tests may leave a loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        listening = pool.submit(asyncio.run, listen_until_ready())
        assert subscribed.wait(10)
        image = do_add_image(project, owner, picture(12), "a.png")
        events = listening.result(timeout=90)
    assert [e["embedding"] for e in events] == ["running", "ready"]
    assert events[-1] == {
        "type": "image.status",
        "image": image.pk,
        "embedding": "ready",
        "error": "",
    }


def test_an_existing_embedding_is_reused_not_recomputed(
    worker: Worker, media: Path, models_dir: dict[str, str]
) -> None:
    owner, project = project_with(models_dir["sam"])
    image = do_add_image(project, owner, picture(3), "a.png")
    wait_until(lambda: statuses(image) == ["ready"], "the embedding", worker)
    key = embeddings.storage_key(image.sha256, models_dir["sam"])
    stamp = (media / key).stat().st_mtime_ns

    # The same picture in another project with the same model: no second encode.
    other_owner, other = project_with(models_dir["sam"])
    again = do_add_image(other, other_owner, picture(3), "copy.png")
    enqueue(COMPUTE_EMBEDDING, image.pk)  # and a duplicate request for the first
    wait_until(lambda: statuses(again) == ["ready"], "the copy's status", worker)
    assert (media / key).stat().st_mtime_ns == stamp
    assert Image.objects.get(pk=again.pk).embedding_attempts == 0
    assert len(list((media / key).parent.iterdir())) == 1


def test_a_vanished_image_is_skipped(
    worker: Worker, media: Path, models_dir: dict[str, str]
) -> None:
    owner, project = project_with(models_dir["sam"])
    doomed = do_add_image(project, owner, picture(4), "doomed.png")
    doomed_id = doomed.pk
    doomed.delete()
    enqueue(COMPUTE_EMBEDDING, doomed_id)
    survivor = do_add_image(project, owner, picture(5), "survivor.png")
    wait_until(lambda: statuses(survivor) == ["ready"], "the next image", worker)
    assert worker.process is not None and worker.process.poll() is None


def test_changing_the_project_model_re_embeds_its_images(
    worker: Worker, media: Path, settings: Any, models_dir: dict[str, str]
) -> None:
    settings.ANYMASK_EXTRA_MODELS = [models_dir["sam"], models_dir["sam2"]]
    owner, project = project_with(models_dir["sam"])
    image = do_add_image(project, owner, picture(6), "a.png")
    wait_until(lambda: statuses(image) == ["ready"], "the SAM embedding", worker)

    queued = do_update_project(
        project, name=project.name, description="", model_spec=models_dir["sam2"]
    )
    assert queued == 1
    wait_until(lambda: statuses(image) == ["ready"], "the SAM 2 embedding", worker)
    stored = embeddings.read_stored(embeddings.storage_key(image.sha256, models_dir["sam2"]))
    assert stored is not None
    assert embedding_from_bytes(stored, models_dir["sam2"]).family == "sam2"


def test_an_unusable_model_fails_the_image_with_a_clear_message(
    worker: Worker, media: Path, models_dir: dict[str, str]
) -> None:
    owner, project = project_with(models_dir["broken"])
    image = do_add_image(project, owner, picture(7), "a.png")
    wait_until(lambda: statuses(image) == ["failed"], "the failure", worker)
    error = Image.objects.get(pk=image.pk).embedding_error
    assert "not SAM or SAM 2" in error and models_dir["broken"] in error


def test_a_corrupt_stored_embedding_is_replaced(
    worker: Worker, media: Path, models_dir: dict[str, str]
) -> None:
    owner, project = project_with(models_dir["sam"])
    image = do_add_image(project, owner, picture(8), "a.png")
    wait_until(lambda: statuses(image) == ["ready"], "the embedding", worker)
    key = embeddings.storage_key(image.sha256, models_dir["sam"])
    (media / key).write_bytes(b"half an embed")
    Image.objects.filter(pk=image.pk).update(embedding_status=EmbeddingStatus.PENDING)
    enqueue(COMPUTE_EMBEDDING, image.pk)
    wait_until(lambda: statuses(image) == ["ready"], "the re-computed embedding", worker)
    stored = embeddings.read_stored(key)
    assert stored is not None
    embedding_from_bytes(stored, models_dir["sam"])  # valid again


def test_a_corrupt_embedding_is_replaced_even_after_earlier_crashes(
    worker: Worker, media: Path, models_dir: dict[str, str]
) -> None:
    from labeling.jobs.embedding import MAX_ATTEMPTS

    owner, project = project_with(models_dir["sam"])
    image = do_add_image(project, owner, picture(9), "a.png")
    wait_until(lambda: statuses(image) == ["ready"], "the embedding", worker)
    key = embeddings.storage_key(image.sha256, models_dir["sam"])
    (media / key).write_bytes(b"half an embed")
    # Crashes counted against the old embedding must not give up on the new one.
    Image.objects.filter(pk=image.pk).update(
        embedding_status=EmbeddingStatus.PENDING, embedding_attempts=MAX_ATTEMPTS
    )
    enqueue(COMPUTE_EMBEDDING, image.pk)
    wait_until(lambda: statuses(image) == ["ready"], "the re-computed embedding", worker)
    assert Image.objects.get(pk=image.pk).embedding_attempts == 1
    stored = embeddings.read_stored(key)
    assert stored is not None
    embedding_from_bytes(stored, models_dir["sam"])


def test_a_storage_hiccup_is_retried_with_backoff_until_it_works(
    worker: Worker, media: Path, models_dir: dict[str, str]
) -> None:
    owner, project = project_with(models_dir["sam"])
    upload = picture(10)
    key = embeddings.storage_key(hashlib.sha256(upload.getvalue()).hexdigest(), models_dir["sam"])
    # A file where the embedding's folder must go: storing it fails with an OSError.
    blocker = media / Path(key).parent
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_bytes(b"")
    image = do_add_image(project, owner, upload, "hiccup.png")
    wait_until(
        lambda: "Will retry" in Image.objects.get(pk=image.pk).embedding_error,
        "the first failure",
        worker,
    )
    waiting = Image.objects.get(pk=image.pk)
    assert waiting.embedding_status == "pending"  # shown as waiting, not as failed
    assert waiting.embedding_attempts == 0  # a handled hiccup does not count as a crash
    blocker.unlink()  # the storage recovers before the retry is due
    wait_until(lambda: statuses(image) == ["ready"], "the retried embedding", worker)
    row = Image.objects.get(pk=image.pk)
    assert row.embedding_error == ""
    assert row.embedding_attempts == 1  # only the run that finished
    stored = embeddings.read_stored(key)
    assert stored is not None
    embedding_from_bytes(stored, models_dir["sam"])


def test_a_worker_killed_mid_task_reruns_it_and_stores_one_embedding(
    worker: Worker, media: Path, settings: Any, models_dir: dict[str, str], tmp_path: Path
) -> None:
    """Production (Redis): the prefork child dies, Celery requeues the unacked task
    (acks_late + reject_on_worker_lost) and a fresh child runs it. Embedded mode
    (directory broker, solo pool): the whole worker dies, and the next start re-queues
    what is not ready, as `manage.py serve` does with `embed_missing`."""
    worker.stop()  # a cold, dedicated worker: seconds between "running" and "ready"
    production = bool(settings.REDIS_URL)
    # The re-delivered task finds the dead run's lease still live and leaves it to the
    # sweep, which re-runs the image once the lease expires (short here, 60 s default).
    lease = {"ANYMASK_EMBEDDING_LEASE_SECONDS": "3", "ANYMASK_EMBEDDING_SWEEP_SECONDS": "1"}
    victim = Worker(
        media, tmp_path / "victim.log", pool="prefork" if production else "solo", env=lease
    )
    victim.start()
    owner, project = project_with(models_dir["sam2"])
    image = do_add_image(project, owner, picture(9, (640, 480)), "victim.png")
    wait_until(lambda: statuses(image) == ["running"], "the task to start", victim)
    assert victim.process is not None
    if production:
        for child in victim.pool_children():
            os.kill(child, signal.SIGKILL)
    else:
        victim.process.kill()
        victim.process.wait()
        call_command("embed_missing", include_running=True, stdout=io.StringIO())
        victim.start()
    try:
        wait_until(lambda: statuses(image) == ["ready"], "the re-run", victim)
    finally:
        victim.stop()
    image.refresh_from_db()
    assert image.embedding_attempts == 2  # the killed run, then the re-run
    key = embeddings.storage_key(image.sha256, models_dir["sam2"])
    assert [p.name for p in (media / key).parent.iterdir()] == [Path(key).name]
