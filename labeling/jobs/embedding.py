"""An image's embedding job: encode it once with its project's model and store it.

The image's row carries the outcome (`embedding_status`, `embedding_error`), which
is pushed to the project's pages. A stored embedding that is still valid is kept;
a corrupt one is replaced. `embedding_attempts` counts encodes that began, so an
image that kills its worker each time (out of memory, say) is given up on instead
of being redelivered forever. While it works, the worker holds the image's lease
(`embedding_lease`), so a second delivery of the task skips the image and a dead
worker's image is re-run by the sweep (`embedding_sweep`) within a minute or two.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError
from django.db.models import F
from django.utils import timezone

from inference import EmbeddingError, InferenceError
from labeling import embedding_store
from labeling.events import publish_image_status
from labeling.jobs import embedding_lease
from labeling.models import EmbeddingStatus, Image

logger = logging.getLogger(__name__)

# Failures worth another try later: storage or database hiccups, a busy GPU.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, OperationalError, MemoryError)
# Encodes that never finished (the worker died): after this many, the image fails.
MAX_ATTEMPTS = 3
RETRY_BASE_SECONDS = 5
RETRY_MAX_SECONDS = 600


class RetryLater(Exception):
    """A transient failure: the task should run again after `delay` seconds."""

    def __init__(self, cause: BaseException, delay: float) -> None:
        super().__init__(str(cause))
        self.cause, self.delay = cause, delay


def is_transient(error: BaseException) -> bool:
    # torch's OutOfMemoryError (a RuntimeError) is matched by name: a busy GPU frees
    # memory later, and importing torch here would load it in every process.
    return isinstance(error, TRANSIENT_ERRORS) or type(error).__name__ == "OutOfMemoryError"


def retry_delay(retries: int) -> float:
    """Exponential backoff with jitter, so a fleet of retries does not return at once."""
    return min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2**retries) * random.uniform(0.5, 1)  # noqa: S311


def _set_status(image: Image, status: str, error: str = "", **fields: Any) -> None:
    Image.objects.filter(pk=image.pk).update(
        embedding_status=status, embedding_error=error, **fields
    )
    publish_image_status(image.project_id, image.pk, embedding=status, error=error)


def embed_image(image_id: int, *, retries: int, max_retries: int) -> str:
    """Compute and store the embedding of one image, unless a valid one is stored.

    `retries` is how many times this task has been retried already. Raises
    `RetryLater` for a transient failure while retries remain. Returns "skipped" when
    another live worker holds the image's lease (it is encoding it now).
    """
    image = Image.objects.select_related("project").filter(pk=image_id).first()
    if image is None:
        logger.info("image %s vanished before its embedding was computed", image_id)
        return "vanished"
    owner = embedding_lease.new_owner()
    if not embedding_lease.try_take(image.pk, owner):
        logger.info("image %s is being encoded by another worker; skipping", image_id)
        return "skipped"
    try:
        # The heartbeat covers the model load too: a first download can take minutes.
        with embedding_lease.heartbeat(image.pk, owner):
            return _embed_leased(image, retries=retries, max_retries=max_retries)
    finally:
        embedding_lease.release(image.pk, owner)


def _embed_leased(image: Image, *, retries: int, max_retries: int) -> str:
    from inference import load_model

    image_id = image.pk
    spec = image.project.model_spec
    try:
        model = load_model(spec)
        stored = embedding_store.read(model, image.sha256, cached=False)
    except EmbeddingError:
        logger.warning("replacing the corrupt embedding of image %s", image_id)
        embedding_store.discard(image.sha256, spec)
        # Earlier crashes counted against the old embedding; the new one starts afresh,
        # so an image that once needed retries is not given up on at once.
        Image.objects.filter(pk=image_id).update(embedding_attempts=0)
    except Exception as error:
        return _failed(image, error, retries, max_retries)
    else:
        if stored is not None:
            _set_status(image, EmbeddingStatus.READY, embedded_at=timezone.now())
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
    from labeling.jobs import embedding_batch

    size = embedding_batch.batch_size(model)
    if size > 1:
        return embedding_batch.encode_with_companions(
            model, image, size, retries=retries, max_retries=max_retries
        )
    try:
        if settings.ANYMASK_TEST_ENCODE_DELAY_MS:  # tests only: a window to kill us in
            time.sleep(settings.ANYMASK_TEST_ENCODE_DELAY_MS / 1000)
        embedding_store.compute(model, image)
    except Exception as error:
        # The attempt ended in an error we saw, not a dead worker: it does not count.
        rows.update(embedding_attempts=F("embedding_attempts") - 1)
        return _failed(image, error, retries, max_retries)
    _set_status(image, EmbeddingStatus.READY, embedded_at=timezone.now())
    return "computed"


def _failed(image: Image, error: Exception, retries: int, max_retries: int) -> str:
    """Record a failure seen while loading the model or encoding: for good when it
    will not fix itself, else as a retry later (`RetryLater`) while retries remain."""
    # The returned text is what Celery logs as the task's result, so it carries the
    # reason too ("succeeded: 'failed: model ... unavailable ...'").
    spec = image.project.model_spec
    if isinstance(error, InferenceError) and not is_transient(error):
        # Not transient: a missing model or an unusable image will not fix itself.
        # `embed_missing` re-queues failed images once the cause is fixed.
        logger.warning("embedding image %s with %s failed: %s", image.pk, spec, error)
        _set_status(image, EmbeddingStatus.FAILED, str(error))
        return f"failed: {error}"
    if not is_transient(error):
        logger.exception("embedding image %s with %s failed", image.pk, spec)
        _set_status(image, EmbeddingStatus.FAILED, f"Unexpected error: {error}")
        return f"failed: {type(error).__name__}: {error}"
    if retries >= max_retries:
        logger.warning("embedding image %s with %s failed for good: %s", image.pk, spec, error)
        _set_status(image, EmbeddingStatus.FAILED, f"Gave up after {retries + 1} tries: {error}")
        return f"failed: {error}"
    delay = retry_delay(retries)
    logger.warning("image %s: %s; retrying in %.0f s", image.pk, error, delay)
    # Due when the retry is: the sweep must not take a waiting retry for a lost task.
    due = timezone.now() + timedelta(seconds=delay)
    _set_status(
        image,
        EmbeddingStatus.PENDING,
        f"Will retry in {delay:.0f} s: {error}",
        embedding_queued_at=due,
    )
    raise RetryLater(error, delay) from error
