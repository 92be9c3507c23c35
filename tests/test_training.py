"""Fine-tuning a project's decoder on its approved masks: the training job, the gate,
model versions, adopt and rollback (what clicks decode), cancel, one run at a time,
and who may do any of it."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.db import connection

from inference.masks import rle_encode
from inference.testing import save_tiny_sam
from labeling.holdout import is_holdout
from labeling.jobs.training import claim, perform_training, training_images
from labeling.management.commands.serve import worker_command
from labeling.model_versions import ModelVersion, TrainingJob
from labeling.models import EmbeddingStatus, Image, Project
from labeling.project_models import forget_versions
from labeling.services.annotations import do_create_annotation
from labeling.services.training import do_cancel_training
from labeling.services.uploads import do_add_image
from labeling.tasks import compute_embedding
from tests.api_helpers import api_for
from tests.conftest import Personas, drain_queue
from tests.test_consumer import LoopThread, masks_for, open_socket

pytestmark = pytest.mark.django_db(transaction=True)

WIDTH, HEIGHT = 320, 240
HELD_OUT_SEED = 3  # of pictures 0-6; one a short run of the tiny model generalises to
CENTRE, RADIUS = (120, 160), 55  # (y, x): every picture's object is a disk here


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny_sam(tmp_path_factory.mktemp("models") / "tiny-sam", coherent=True))


@pytest.fixture(scope="module")
def shared_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")  # embeddings computed once per module


def disk_mask(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    return (yy - CENTRE[0]) ** 2 + (xx - CENTRE[1]) ** 2 < radius**2


def picture(seed: int) -> tuple[io.BytesIO, np.ndarray]:
    """Textured noise with one coloured disk (a synthetic domain), and the disk."""
    from PIL import Image as PILImage

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 120, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    mask = disk_mask(RADIUS + seed % 7)
    pixels[mask] = rng.integers(150, 255, 3, dtype=np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, format="PNG")
    out.seek(0)
    return out, mask


@pytest.fixture
def project(personas: Personas, tiny_sam: str, shared_media: Path, settings: Any) -> Project:
    """A project whose images each hold one approved mask, some of them held out."""
    settings.MEDIA_ROOT = str(shared_media)
    settings.ANYMASK_TRAINING_MAX_STEPS = 10
    settings.ANYMASK_TRAINING_MASKS_PER_STEP = 1
    settings.ANYMASK_TRAINING_LEARNING_RATE = 1e-3
    settings.ANYMASK_TRAINING_EVAL_CLICKS = 3
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)
    drain_queue(settings.CELERY_QUEUE_TRAINING)
    forget_versions()
    project = personas.project
    project.model_spec = tiny_sam
    project.save()
    # Which images the hash holds out depends on their ids, so on the test order; a
    # tiny random encoder generalises to some held-out pictures and not to others.
    # Fixed roles keep the test the same whatever the ids: every seed but
    # HELD_OUT_SEED is trained on, that one is held out (an upload that lands on the
    # wrong side is taken back and made again, under the next id).
    for seed in range(7):
        while True:
            data, mask = picture(seed)
            image = do_add_image(project, personas.owner, data, f"{seed}.png")
            if is_holdout(image) == (seed == HELD_OUT_SEED):
                break
            Image.objects.filter(pk=image.pk).delete()
        compute_embedding.apply(args=[image.pk])
        do_create_annotation(
            image, personas.owner, rle=rle_encode(mask), source="manual", status="approved"
        )
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)
    assert not project.images.exclude(embedding_status=EmbeddingStatus.READY).exists()
    return project


def start(personas: Personas, project: Project, seconds: int = 600, seed: int = 0) -> Any:
    owner = personas.client("owner")
    response = owner.post(
        f"/projects/{project.pk}/models/train", {"seconds": str(seconds), "seed": str(seed)}
    )
    assert response.status_code == 302
    return owner


def queued_job(settings: Any) -> TrainingJob:
    [(name, args)] = drain_queue(settings.CELERY_QUEUE_TRAINING)
    assert name == "labeling.tasks.run_training"
    return TrainingJob.objects.get(pk=args[0])


def stored_decoders(project: Project) -> list[str]:
    folder = f"model_versions/{project.pk}"
    return default_storage.listdir(folder)[1] if default_storage.exists(folder) else []


def test_the_workers_consume_the_training_queue(settings: Any) -> None:
    assert settings.ANYMASK_TASK_QUEUES["labeling.tasks.run_training"] == "training"
    command = worker_command(pool="solo")
    queues = command[command.index("-Q") + 1].split(",")
    assert "training" in queues


def test_held_out_images_are_never_trained_on(project: Project) -> None:
    train = {int(item.key) for item in training_images(project, holdout=False)}
    held = {int(item.key) for item in training_images(project, holdout=True)}
    assert train and held and not train & held
    assert train | held == set(project.images.values_list("pk", flat=True))
    assert all(is_holdout(Image.objects.get(pk=pk)) for pk in held)
    # The split is a pure function of the ids: asking again gives the same.
    assert held == {int(item.key) for item in training_images(project, holdout=True)}


def test_a_better_decoder_is_kept_and_adopting_it_changes_what_clicks_decode(
    personas: Personas, project: Project, settings: Any
) -> None:
    settings.ANYMASK_TRAINING_MIN_MIOU_GAIN = 0.0
    settings.ANYMASK_TRAINING_MIN_NOC_DROP = 0.0
    settings.ANYMASK_TRAINING_MAX_STEPS = 60
    owner = start(personas, project)
    job = queued_job(settings)
    assert perform_training(job.pk) == "kept"
    job.refresh_from_db()
    version = ModelVersion.objects.get(project=project)
    assert (job.status, job.version, version.number) == ("done", version, 1)
    base, tuned = version.metrics["base"], version.metrics["tuned"]
    # Better as the gate means it: neither figure worse, one of them better. Which one
    # moves in 60 steps of a tiny random model depends on the CPU's float rounding
    # (here the first click's pick stays a miss while NoC@85 drops from 3 to 2).
    assert tuned["miou1"] >= base["miou1"] and tuned["noc85"] <= base["noc85"]
    assert tuned["miou1"] > base["miou1"] or tuned["noc85"] < base["noc85"]
    assert version.metrics["training"]["steps"] == 60
    assert stored_decoders(project) == [Path(version.decoder_file).name]
    page = owner.get(f"/projects/{project.pk}/models/").content.decode()
    assert f"{base['miou1']:.3f} → {tuned['miou1']:.3f}" in page
    assert "kept as version 1" in page

    runner = LoopThread()
    try:
        image = project.images.order_by("pk").first()
        assert image is not None
        socket, _hello = open_socket(runner, personas.annotator, image)
        prompt = {"type": "prompt", "seq": 1, "points": [[160, 120]], "labels": [1]}
        before = masks_for(socket, prompt)["candidates"]
        assert owner.post(f"/projects/{project.pk}/models/adopt", {"version": "1"}).status_code
        assert Project.objects.get(pk=project.pk).adopted_version == version
        adopted = masks_for(socket, {**prompt, "seq": 2})["candidates"]  # the same open socket
        assert [m["rle"] for m in adopted] != [m["rle"] for m in before]
        owner.post(f"/projects/{project.pk}/models/adopt", {"version": "base"})
        rolled_back = masks_for(socket, {**prompt, "seq": 3})["candidates"]
        assert [m["rle"] for m in rolled_back] == [m["rle"] for m in before]
        # Adopting a version again is one step too, over the API as well.
        api = api_for(personas.owner)
        reply = api.call("POST", f"/projects/{project.pk}/model-versions/adopt", {"version": 1})
        listed = reply.json()
        assert (
            reply.status_code == 200
            and listed["adopted"] == 1
            and listed["versions"][0]["adopted"] is True
        )
        again = masks_for(socket, {**prompt, "seq": 4})["candidates"]
        assert [m["rle"] for m in again] == [m["rle"] for m in adopted]
    finally:
        runner.close()


def test_a_decoder_that_does_not_beat_the_base_is_not_kept(
    personas: Personas, project: Project, settings: Any
) -> None:
    settings.ANYMASK_TRAINING_MAX_STEPS = 2
    settings.ANYMASK_TRAINING_MIN_MIOU_GAIN = 1.0  # unreachable
    settings.ANYMASK_TRAINING_MIN_NOC_DROP = 100.0
    owner = start(personas, project)
    job = queued_job(settings)
    assert perform_training(job.pk) == "not kept"
    job.refresh_from_db()
    assert job.status == "done" and job.version is None
    assert not ModelVersion.objects.exists() and stored_decoders(project) == []
    assert job.metrics["base"]["instances"] == job.metrics["tuned"]["instances"] > 0
    assert job.metrics["gate"]["kept"] is False
    page = owner.get(f"/projects/{project.pk}/models/").content.decode()
    assert "Not kept" in page and "mIoU@1" in page


def test_training_is_deterministic_under_a_seed(
    personas: Personas, project: Project, settings: Any
) -> None:
    settings.ANYMASK_TRAINING_MAX_STEPS = 3
    settings.ANYMASK_TRAINING_MIN_MIOU_GAIN = 0.0
    settings.ANYMASK_TRAINING_MIN_NOC_DROP = 0.0
    figures = []
    for _ in range(2):
        start(personas, project, seed=5)
        job = queued_job(settings)
        perform_training(job.pk)
        job.refresh_from_db()
        figures.append((job.metrics["tuned"], job.metrics["training"]["last_loss"]))
    assert figures[0] == figures[1]


def test_a_canceled_run_stops_and_keeps_nothing(
    personas: Personas, project: Project, settings: Any
) -> None:
    settings.ANYMASK_TRAINING_MAX_STEPS = 1000
    settings.ANYMASK_TRAINING_MIN_MIOU_GAIN = 0.0
    settings.ANYMASK_TRAINING_MIN_NOC_DROP = 0.0
    owner = start(personas, project)
    job = queued_job(settings)
    outcome: list[str] = []

    def run() -> None:
        try:
            outcome.append(perform_training(job.pk))
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 300
    while TrainingJob.objects.get(pk=job.pk).done < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    status = owner.get(f"/projects/{project.pk}/models/status.json").json()
    running = status["jobs"][0]
    assert running["status"] == "running" and running["done"] >= 1
    assert running["loss"] is not None and running["remaining_seconds"] is not None
    assert owner.post(f"/projects/{project.pk}/models/runs/{job.pk}/cancel").status_code == 302
    worker.join(300)
    assert outcome == ["canceled"]
    job.refresh_from_db()
    assert job.status == "canceled" and job.done < 1000
    assert not ModelVersion.objects.exists() and stored_decoders(project) == []


def test_a_second_run_waits_for_the_first(
    personas: Personas, project: Project, settings: Any
) -> None:
    owner = start(personas, project)
    first = queued_job(settings)
    start(personas, project)
    second = queued_job(settings)
    assert claim(first.pk) == "claimed"
    assert perform_training(second.pk) == "waiting"  # the database refuses a second
    second.refresh_from_db()
    assert (second.status, second.waiting) == ("queued", True)
    rows = owner.get(f"/projects/{project.pk}/models/status.json").json()["jobs"]
    assert [(r["id"], r["status"], r["waiting"]) for r in rows] == [
        (second.pk, "queued", True),
        (first.pk, "running", False),
    ]
    assert "waiting" in owner.get(f"/projects/{project.pk}/models/").content.decode()
    do_cancel_training(project, first.pk)
    assert claim(second.pk) == "claimed"  # its turn has come
    do_cancel_training(project, second.pk)


@pytest.mark.parametrize(
    ("who", "code"), [("annotator", 403), ("reviewer", 403), ("outsider", 404)]
)
def test_only_the_projects_admins_train_and_adopt(
    personas: Personas, project: Project, settings: Any, who: str, code: int
) -> None:
    client = personas.client(who)
    base = f"/projects/{project.pk}/models"
    assert client.get(f"{base}/").status_code == code
    assert client.get(f"{base}/status.json").status_code == code
    assert client.post(f"{base}/train", {"seconds": "60"}).status_code == code
    assert client.post(f"{base}/adopt", {"version": "base"}).status_code == code
    api = api_for(getattr(personas, who))
    assert api.call("POST", f"/projects/{project.pk}/training", {"seed": 1}).status_code == code
    listed = api.call("GET", f"/projects/{project.pk}/model-versions")
    assert listed.status_code == code
    assert not TrainingJob.objects.exists()
    assert drain_queue(settings.CELERY_QUEUE_TRAINING) == []
    # The nav shows the tab to admins only.
    assert "Model versions" not in client.get(f"/projects/{project.pk}/").content.decode()


def test_bad_options_and_foreign_versions_are_refused(
    personas: Personas, project: Project, settings: Any
) -> None:
    owner = personas.client("owner")
    base = f"/projects/{project.pk}/models"
    for data in ({"seconds": "5"}, {"seconds": "x"}, {"seconds": "60", "seed": "-1"}):
        owner.post(f"{base}/train", data)
    assert not TrainingJob.objects.exists()
    elsewhere = Project.objects.get(name="Oscar's own")
    foreign = ModelVersion.objects.create(
        project=elsewhere, number=1, base_spec=project.model_spec, decoder_file="x"
    )
    owner.post(f"{base}/adopt", {"version": "1"})  # the number exists, in another project
    assert Project.objects.get(pk=project.pk).adopted_version is None
    foreign_page = owner.get(f"/projects/{elsewhere.pk}/models/")
    assert foreign_page.status_code == 404 and foreign.pk
    assert "Model versions" in owner.get(f"/projects/{project.pk}/").content.decode()
