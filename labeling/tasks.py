"""Celery tasks. They take ids, tolerate rows that vanished, and are idempotent."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from labeling.models import Image

logger = logging.getLogger(__name__)


@shared_task(name="labeling.tasks.compute_embedding")
def compute_embedding(image_id: int) -> None:
    """Compute and store the SAM embedding of one image (wired to the engine later)."""
    image = Image.objects.filter(pk=image_id).first()
    if image is None:
        logger.info("image %s vanished before its embedding was computed", image_id)
        return


def queue_embedding(image_id: int) -> None:
    compute_embedding.apply_async(args=[image_id], queue=settings.CELERY_QUEUE_EMBEDDINGS)
