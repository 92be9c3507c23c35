"""The training job: fine-tune a project's mask decoder on its approved masks, judge
it on the held-out images, and keep it as a version only if it is better.

Training data: approved masks on the project's images outside the held-out split
(`labeling.holdout`), whose embedding is ready. Each image's embedding and masks
are read from storage when a step needs them (`_loader`), so memory holds one
image at a time. The gate runs the evaluator's click protocol on the held-out
images' approved masks with the base model and with the tuned decoder; both
summaries are stored on the job (and on the version, when kept).

Only one run of a project runs at a time: claiming the row is guarded by a partial
unique index on running rows, so a second run stays queued (`waiting`) and its task
retries later.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from labeling import embedding_store
from labeling.events import nudge_pages_on_commit
from labeling.holdout import is_holdout
from labeling.jobs.progress import claim_queued
from labeling.model_versions import TrainingJob
from labeling.models import Annotation, AnnotationStatus, EmbeddingStatus, Image, JobStatus, Project
from labeling.project_models import model_for
from labeling.services.training import do_keep_version

logger = logging.getLogger(__name__)

WRITE_EVERY_SECONDS = 1.0


class Canceled(Exception):
    """The run's row is no longer running (an admin canceled it)."""


def claim(job_id: int) -> str:
    """ "claimed", "waiting" (another run of the project is running) or "gone"."""
    try:
        claimed = claim_queued(TrainingJob, job_id, guarded=True, waiting=False, phase="training")
    except IntegrityError:  # the partial unique index: one running run per project
        # For a queued row `heartbeat_at` is when its task last asked: the sweep does not
        # take a run that retries while it waits for a lost task.
        TrainingJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
            waiting=True, heartbeat_at=timezone.now()
        )
        return "waiting"
    return "claimed" if claimed else "gone"


def training_images(project: Project, *, holdout: bool) -> list[Any]:
    """The project's images with approved masks and a ready embedding, in id order:
    the held-out ones or the others."""
    from inference.finetune.train import TrainingImage

    ids = (
        Annotation.objects.filter(
            image__project=project,
            status=AnnotationStatus.APPROVED,
            image__embedding_status=EmbeddingStatus.READY,
        )
        .values_list("image_id", flat=True)
        .distinct()
    )
    images = Image.objects.filter(pk__in=list(ids)).order_by("pk")
    return [
        TrainingImage(str(image.pk), _loader(project, image))
        for image in images
        if is_holdout(image) == holdout
    ]


def _loader(project: Project, image: Image) -> Any:
    """Reads one image's embedding (bypassing the LRU: training streams) and masks."""
    from inference.masks import rle_decode

    def load() -> tuple[Any, list[np.ndarray]]:
        model = model_for(project, None)
        data = embedding_store.read_stored(embedding_store.storage_key(image.sha256, model.spec))
        if data is None:
            raise embedding_store.EmbeddingUnavailable(f"image {image.pk} has no embedding")
        rles = Annotation.objects.filter(
            image_id=image.pk, status=AnnotationStatus.APPROVED
        ).values_list("rle", flat=True)
        return model.embedding_from_bytes(data), [rle_decode(rle) for rle in rles]

    return load


def perform_training(job_id: int) -> str:
    state = claim(job_id)
    if state != "claimed":
        return state
    job = TrainingJob.objects.select_related("project").get(pk=job_id)
    project = job.project
    nudge_pages_on_commit(project.pk)
    try:
        outcome = _run(job, project)
    except Canceled:
        outcome = "canceled"
    except Exception as error:
        logger.exception("training %s failed", job_id)
        TrainingJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            error=f"Stopped: {type(error).__name__}: {error}"[:2000],
        )
        outcome = "failed"
    nudge_pages_on_commit(project.pk)
    return outcome


def _run(job: TrainingJob, project: Project) -> str:
    from inference.finetune.decoder_state import decoder_to_bytes, with_decoder_state
    from inference.finetune.gate import evaluate, is_better
    from inference.finetune.train import StepReport, TrainConfig, train_decoder

    running = TrainingJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING)
    base = model_for(project, None)
    train_set = training_images(project, holdout=False)
    held_out = training_images(project, holdout=True)
    if not train_set:
        raise ValueError("there are no approved masks outside the held-out images to train on")
    if not held_out:
        raise ValueError("there are no approved masks on held-out images to judge a version by")
    config = TrainConfig(
        seed=job.seed,
        max_steps=job.max_steps,
        time_budget_s=float(job.time_budget_seconds),
        learning_rate=settings.ANYMASK_TRAINING_LEARNING_RATE,
        masks_per_step=settings.ANYMASK_TRAINING_MASKS_PER_STEP,
    )
    last_write = [0.0]

    def on_step(report: StepReport) -> bool:
        now = time.monotonic()
        if now - last_write[0] < WRITE_EVERY_SECONDS and report.step < report.total_steps:
            return True
        last_write[0] = now
        # The update doubles as the cancel check: a canceled row matches nothing.
        return bool(
            running.update(
                done=report.step,
                loss=round(report.loss, 5),
                remaining_seconds=round(report.remaining_s, 1),
            )
        )

    result = train_decoder(base, train_set, config, on_step)
    if result.stopped == "canceled" or not running.exists():
        raise Canceled
    running.update(
        phase="evaluating", done=result.steps, total=result.steps, remaining_seconds=None
    )
    tuned = with_decoder_state(base, result.state, f"run {job.pk}")
    clicks = settings.ANYMASK_TRAINING_EVAL_CLICKS

    def check_cancel() -> None:
        if not running.exists():
            raise Canceled

    before = evaluate(base, held_out, clicks, check_cancel)
    after = evaluate(tuned, held_out, clicks, check_cancel)
    metrics = {
        "base": before,
        "tuned": after,
        "training": {
            "steps": result.steps,
            "seconds": round(result.seconds, 1),
            "stopped": result.stopped,
            "first_loss": result.first_loss,
            "last_loss": result.last_loss,
            "seed": job.seed,
            "train_images": len(train_set),
            "held_out_images": len(held_out),
        },
        "gate": {
            "min_miou_gain": settings.ANYMASK_TRAINING_MIN_MIOU_GAIN,
            "min_noc_drop": settings.ANYMASK_TRAINING_MIN_NOC_DROP,
        },
    }
    better = is_better(
        before,
        after,
        settings.ANYMASK_TRAINING_MIN_MIOU_GAIN,
        settings.ANYMASK_TRAINING_MIN_NOC_DROP,
    )
    metrics["gate"]["kept"] = better
    if not better:
        done = running.update(
            status=JobStatus.DONE,
            finished_at=timezone.now(),
            metrics=metrics,
            error="Not kept: the tuned decoder did not beat the base model on the held-out images.",
        )
        if not done:
            raise Canceled
        return "not kept"
    decoder = decoder_to_bytes(result.state, base.spec, base.family)
    if do_keep_version(job, decoder, metrics) is None:
        raise Canceled
    return "kept"
