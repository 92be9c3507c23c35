"""The workers' sweep: re-queue embeddings that nothing will run otherwise.

Two ways an image is stranded, both re-queued here:
- its worker died mid-task: the lease it renewed while encoding has expired
  (`embedding_lease`), within about a minute, where Redis would redeliver the task
  only after its visibility timeout (hours);
- its task is gone: never sent (the broker was down at upload), or lost with a
  broker that restarted without persistence. Such an image is pending, nobody holds
  its lease, and either it was never queued or its task is overdue by
  ANYMASK_EMBEDDING_REQUEUE_SECONDS while nothing waits in the embeddings queue
  (a waiting message may be its own, so it is left alone while the queue is busy).

Every worker that serves the embeddings queue sweeps when it starts and then every
ANYMASK_EMBEDDING_SWEEP_SECONDS. Each re-queue is claimed by one conditional UPDATE,
so two workers sweeping at once queue an image once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from labeling.jobs import embedding_lease
from labeling.models import EmbeddingStatus, Image
from labeling.queueing import COMPUTE_EMBEDDING, enqueue, queue_of, waiting

logger = logging.getLogger(__name__)

# Re-queued per sweep at most: a backlog is drained over several sweeps, never all
# sent in one burst by every worker.
BATCH = 500
WAITING = (EmbeddingStatus.PENDING, EmbeddingStatus.RUNNING)


def sweep() -> int:
    """Re-queue the stranded images; returns how many were queued."""
    now = timezone.now()
    dead = Image.objects.filter(
        Q(embedding_lease_expires__lt=now)
        # Running with no lease: left by a worker from before leases, or by a task
        # that failed between its status updates.
        | Q(embedding_status=EmbeddingStatus.RUNNING, embedding_lease_expires__isnull=True),
        embedding_status__in=WAITING,
    )
    queued = 0
    for image_id, expires in dead.values_list("pk", "embedding_lease_expires")[:BATCH]:
        claimed = Image.objects.filter(pk=image_id, embedding_lease_expires=expires).update(
            embedding_status=EmbeddingStatus.PENDING,
            embedding_queued_at=now,
            **embedding_lease.release_fields(),
        )
        if claimed:
            logger.warning("image %s: its worker stopped mid-task; queued again", image_id)
            queued += _send(image_id)
    pending = Image.objects.filter(
        embedding_lease_expires__isnull=True, embedding_status=EmbeddingStatus.PENDING
    )
    overdue = Q(embedding_queued_at__isnull=True)
    if waiting(queue_of(COMPUTE_EMBEDDING)) == 0:
        cutoff = now - timedelta(seconds=settings.ANYMASK_EMBEDDING_REQUEUE_SECONDS)
        overdue |= Q(embedding_queued_at__lt=cutoff)
    for image_id, due in pending.filter(overdue).values_list("pk", "embedding_queued_at")[:BATCH]:
        claimed = Image.objects.filter(pk=image_id, embedding_queued_at=due).update(
            embedding_queued_at=now
        )
        if claimed:
            logger.warning("image %s: its embedding task was lost; queued again", image_id)
            queued += _send(image_id)
    return queued


def _send(image_id: int) -> int:
    try:
        enqueue(COMPUTE_EMBEDDING, image_id)
    except Exception:
        # Still marked as never queued: the next sweep tries again.
        Image.objects.filter(pk=image_id).update(embedding_queued_at=None)
        raise
    return 1


def sweep_and_log() -> None:
    try:
        queued = sweep()
    except Exception as error:  # the broker or the database is down: next time
        logger.warning("embedding sweep failed: %s", error)
    else:
        if queued:
            logger.info("embedding sweep queued %s image(s)", queued)
