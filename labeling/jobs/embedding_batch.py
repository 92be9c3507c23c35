"""Encoding several pending images as one batch, on a GPU (ANYMASK_EMBED_BATCH).

A task for image A that may batch claims up to N-1 more pending images of the same
model through their embedding leases (`embedding_lease.try_take`: one statement, so
no image is claimed by two workers and none is encoded twice), renews every lease
it holds while it works, and encodes the images in one `encode_batch` call. Each
image's row, stored embedding and status event are written exactly as a
one-at-a-time encode writes them. The claimed images' own tasks are still queued:
when they run they find the embedding stored and end ("exists"). A worker killed
mid-batch leaves every lease to expire, and the sweep re-runs each image.

One image's failure stays its own: pixels are read image by image (a corrupt file
fails only that image), and if the batch itself fails (a GPU out of memory, say) the
images are encoded one at a time. A claimed image whose failure is transient goes
back to pending for its own task to retry; a lasting one is recorded as its own
task would record it.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from labeling import embedding_store
from labeling.jobs import embedding_lease
from labeling.models import EmbeddingStatus, Image

if TYPE_CHECKING:
    import numpy as np

    from inference import Embedding, SegmentationModel

logger = logging.getLogger(__name__)


def batch_size(model: SegmentationModel) -> int:
    configured = int(settings.ANYMASK_EMBED_BATCH)
    if configured:
        return configured
    return 8 if model.device.type == "cuda" else 1


def claim_companions(primary: Image, wanted: int) -> list[tuple[Image, str]]:
    """Up to `wanted` other pending images of the same model that are due now and
    that no live worker holds, each with its lease taken."""
    due = Q(embedding_queued_at__isnull=True) | Q(embedding_queued_at__lte=timezone.now())
    candidates = (
        Image.objects.select_related("project")
        .filter(embedding_lease.free_lease(), due, embedding_status=EmbeddingStatus.PENDING)
        .filter(project__model_spec=primary.project.model_spec)
        .exclude(pk=primary.pk)
        .order_by("pk")[: wanted * 2]
    )
    claimed: list[tuple[Image, str]] = []
    for image in candidates:
        owner = embedding_lease.new_owner()
        if embedding_lease.try_take(image.pk, owner):  # another worker may win it first
            claimed.append((image, owner))
            if len(claimed) == wanted:
                break
    return claimed


def _begin(model: SegmentationModel, image: Image) -> bool:
    """A claimed image's checks before its encode (as `_embed_leased` does): False when
    it needs none (a valid embedding is stored, or it was given up on)."""
    from labeling.jobs.embedding import MAX_ATTEMPTS, _set_status

    try:
        if embedding_store.read(model, image.sha256, cached=False) is not None:
            _set_status(image, EmbeddingStatus.READY)
            return False
    except Exception:  # corrupt, or unreadable now: left to the image's own task
        return False
    rows = Image.objects.filter(pk=image.pk)
    rows.update(embedding_attempts=F("embedding_attempts") + 1)
    attempts = rows.values_list("embedding_attempts", flat=True).first()
    if attempts is None or attempts > MAX_ATTEMPTS:
        rows.update(embedding_attempts=F("embedding_attempts") - 1)
        return False  # its own task gives up on it, saying why
    _set_status(image, EmbeddingStatus.RUNNING)
    return True


def _encode(
    model: SegmentationModel, images: list[Image], size: int
) -> dict[int, Embedding | Exception]:
    pixels: dict[int, np.ndarray] = {}
    outcome: dict[int, Embedding | Exception] = {}
    for image in images:
        try:
            pixels[image.pk] = embedding_store.pixels_of(image)
        except Exception as error:
            outcome[image.pk] = error
    good = [image for image in images if image.pk in pixels]
    if settings.ANYMASK_TEST_ENCODE_DELAY_MS:  # tests only: a window to kill us in
        time.sleep(settings.ANYMASK_TEST_ENCODE_DELAY_MS / 1000)
    try:
        encoded = model.encode_batch([pixels[image.pk] for image in good], batch_size=size)
        outcome.update({image.pk: found for image, found in zip(good, encoded, strict=True)})
    except Exception:
        logger.warning("a batch of %d failed; encoding one at a time", len(good), exc_info=True)
        for image in good:
            try:
                outcome[image.pk] = model.encode(pixels[image.pk])
            except Exception as error:
                outcome[image.pk] = error
    return outcome


def encode_with_companions(
    model: SegmentationModel, primary: Image, size: int, *, retries: int, max_retries: int
) -> str:
    """Encode `primary` (leased and marked running by the caller) with up to size-1
    claimed companions; the primary's result as `_embed_leased` returns it."""
    from labeling.jobs.embedding import _failed, _set_status, is_transient

    claimed = claim_companions(primary, size - 1)
    try:
        with ExitStack() as beats:
            for image, owner in claimed:
                beats.enter_context(embedding_lease.heartbeat(image.pk, owner))
            companions = [image for image, _ in claimed if _begin(model, image)]
            members = [primary, *companions]
            outcome = _encode(model, members, size)
            errors: dict[int, Exception] = {}
            for image in members:
                found = outcome[image.pk]
                if not isinstance(found, Exception):
                    try:
                        embedding_store.store(model, image, found)
                    except Exception as error:
                        found = error
                if isinstance(found, Exception):
                    errors[image.pk] = found
                    # An error we saw, not a dead worker: the attempt does not count.
                    Image.objects.filter(pk=image.pk).update(
                        embedding_attempts=F("embedding_attempts") - 1
                    )
                else:
                    _set_status(image, EmbeddingStatus.READY)
            for image in companions:
                if image.pk not in errors:
                    continue
                if is_transient(errors[image.pk]):
                    # Its own task, still queued, retries it with its own backoff.
                    _set_status(image, EmbeddingStatus.PENDING, f"Will retry: {errors[image.pk]}")
                else:
                    _failed(image, errors[image.pk], 0, 0)  # lasting: recorded as its task would
    finally:
        for image, owner in claimed:
            embedding_lease.release(image.pk, owner)
    logger.info("encoded a batch of %d image(s)", len(members))
    if primary.pk in errors:
        return _failed(primary, errors[primary.pk], retries, max_retries)
    return "computed"
