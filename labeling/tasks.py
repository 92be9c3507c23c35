"""Celery tasks. They take ids, tolerate rows that vanished, and are idempotent.

`compute_embedding` runs on the `embeddings` queue (GPU workers in production);
everything else on `default`.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import F

from labeling import embeddings
from labeling.events import publish_image_status
from labeling.models import EmbeddingStatus, Image

logger = logging.getLogger(__name__)

# Failures worth another try later: storage or database hiccups, a busy GPU.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, OperationalError, MemoryError)
# Encodes that never finished (the worker died): after this many, the image fails.
MAX_ATTEMPTS = 3
MAX_RETRIES = 5
RETRY_BASE_SECONDS = 5
RETRY_MAX_SECONDS = 600


def is_transient(error: BaseException) -> bool:
    # torch's OutOfMemoryError (a RuntimeError) is matched by name: a busy GPU frees
    # memory later, and importing torch here would load it in every process.
    return isinstance(error, TRANSIENT_ERRORS) or type(error).__name__ == "OutOfMemoryError"


def retry_delay(retries: int) -> float:
    """Exponential backoff with jitter, so a fleet of retries does not return at once."""
    return min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2**retries) * random.uniform(0.5, 1)  # noqa: S311


def _set_status(image: Image, status: str, error: str = "") -> None:
    Image.objects.filter(pk=image.pk).update(embedding_status=status, embedding_error=error)
    publish_image_status(image.project_id, image.pk, embedding=status, error=error)


@shared_task(
    bind=True,
    name="labeling.tasks.compute_embedding",
    max_retries=MAX_RETRIES,
    # A backstop for hiccups outside the encode (reading the stored embedding, the
    # status updates): the encode itself retries explicitly, below.
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=RETRY_BASE_SECONDS,
    retry_backoff_max=RETRY_MAX_SECONDS,
    retry_jitter=True,
)
def compute_embedding(self: Any, image_id: int) -> str:
    """Compute and store the SAM embedding of one image, unless it already exists."""
    from inference import EmbeddingError, InferenceError, embedding_to_bytes, load_model

    image = Image.objects.select_related("project").filter(pk=image_id).first()
    if image is None:
        logger.info("image %s vanished before its embedding was computed", image_id)
        return "vanished"
    spec = image.project.model_spec
    key = embeddings.storage_key(image.sha256, spec)

    stored = embeddings.read_stored(key)
    if stored is not None:
        try:
            from inference.embedding import embedding_from_bytes

            embedding_from_bytes(stored, spec)
        except EmbeddingError:
            logger.warning("replacing corrupt embedding %s", key)
            embeddings.discard(key)
        else:
            _set_status(image, EmbeddingStatus.READY)
            return "exists"

    # Counted before the work, so a worker that dies mid-encode still counts it; an
    # attempt that ends in a handled error (below) is taken back off.
    rows = Image.objects.filter(pk=image.pk)
    rows.update(embedding_attempts=F("embedding_attempts") + 1)
    attempts = rows.values_list("embedding_attempts", flat=True).first()
    if attempts is None:
        return "vanished"
    if attempts > MAX_ATTEMPTS:
        _set_status(
            image,
            EmbeddingStatus.FAILED,
            f"Gave up after {MAX_ATTEMPTS} attempts: the worker stopped while encoding "
            "this image each time (often it ran out of memory).",
        )
        return "gave up"
    _set_status(image, EmbeddingStatus.RUNNING)
    try:
        model = load_model(spec)
        pixels = embeddings.model_input(image)
        embeddings.store(key, embedding_to_bytes(model.encode(pixels)))
    except Exception as error:
        # The attempt ended in an error we saw, not a dead worker: it does not count.
        rows.update(embedding_attempts=F("embedding_attempts") - 1)
        if isinstance(error, InferenceError):
            # Not transient: a missing model or an unusable image will not fix itself.
            # `embed_missing` re-queues failed images once the cause is fixed.
            _set_status(image, EmbeddingStatus.FAILED, str(error))
            return "failed"
        if not is_transient(error):
            logger.exception("embedding image %s failed", image_id)
            _set_status(image, EmbeddingStatus.FAILED, f"Unexpected error: {error}")
            return "failed"
        retries = self.request.retries
        if retries >= self.max_retries:
            _set_status(
                image, EmbeddingStatus.FAILED, f"Gave up after {retries + 1} tries: {error}"
            )
            return "failed"
        delay = retry_delay(retries)
        logger.warning("image %s: %s; retrying in %.0f s", image_id, error, delay)
        _set_status(image, EmbeddingStatus.PENDING, f"Will retry in {delay:.0f} s: {error}")
        raise self.retry(exc=error, countdown=delay) from error
    _set_status(image, EmbeddingStatus.READY)
    return "computed"


@shared_task(
    name="labeling.tasks.auto_segment",
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=5,
    max_retries=3,
)
def auto_segment(
    image_id: int,
    *,
    points_per_side: int = 32,
    pred_iou_thresh: float | None = None,
    stability_score_thresh: float = 0.95,
    min_region_area: int = 100,
) -> int:
    """SAM's "segment everything" on one image; its masks replace the image's earlier
    machine proposals (status proposed, source auto). Returns how many were stored."""
    from labeling.services.proposals import propose_for_image

    image = Image.objects.select_related("project").filter(pk=image_id).first()
    if image is None:
        return 0
    return propose_for_image(
        image,
        points_per_side=points_per_side,
        pred_iou_thresh=pred_iou_thresh,
        stability_score_thresh=stability_score_thresh,
        min_region_area=min_region_area,
    )


@shared_task(name="labeling.tasks.run_export")
def run_export(export_id: int) -> str:
    """A COCO export (labeling/services/exports.py); its row records the outcome."""
    from labeling.services.exports import perform_export

    return perform_export(export_id)


@shared_task(name="labeling.tasks.run_import")
def run_import(import_id: int) -> str:
    """A COCO import (labeling/services/imports.py); its row records the outcome."""
    from labeling.services.imports import perform_import

    return perform_import(import_id)


@shared_task(name="labeling.tasks.run_proposals")
def run_proposals(job_id: int) -> str:
    """Machine proposals for a job's images (labeling/services/proposals.py)."""
    from labeling.services.proposals import perform_proposals

    return perform_proposals(job_id)


def queue_embedding(image_id: int) -> None:
    compute_embedding.apply_async(args=[image_id], queue=settings.CELERY_QUEUE_EMBEDDINGS)


def queue_embeddings_on_commit(image_ids: list[int]) -> None:
    def send() -> None:
        for image_id in image_ids:
            queue_embedding(image_id)

    transaction.on_commit(send, robust=True)
