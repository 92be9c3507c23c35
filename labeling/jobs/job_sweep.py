"""The workers' job sweep: rows whose worker died are queued again once, then failed.

Every worker runs it (`tasks.py` starts a `Periodic` thread when a worker is ready),
whatever queues it serves, because a job's worker may have been the only one of its
kind. A running row whose heartbeat (`job_heartbeat`) is older than
ANYMASK_JOB_STALE_SECONDS lost its worker. Each row is taken by one conditional
UPDATE on its heartbeat, so two workers sweeping at once act on it once.

Every kind here is safe to run again from the start: an export writes its file only
at the end, an import is one transaction, a proposal run replaces the proposals of
each image it reaches, an evaluation writes its figures only when it ends. A job
that has already taken down its worker MAX_RUNS times is
failed, with the reason, instead of being run again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from labeling.models import (
    CocoImport,
    ConceptJob,
    EvaluationRun,
    Export,
    JobStatus,
    ProposalJob,
    TrainingJob,
)
from labeling.queueing import (
    RUN_CONCEPTS,
    RUN_EVALUATION,
    RUN_EXPORT,
    RUN_IMPORT,
    RUN_PROPOSALS,
    RUN_TRAINING,
    enqueue,
    queue_of,
    waiting,
)
from labeling.services.concepts import do_discard_stale

logger = logging.getLogger(__name__)

MAX_RUNS = 2
BATCH = 100
STOPPED = "The worker stopped while running this job"


@dataclass(frozen=True)
class JobKind:
    model: Any
    task: str
    # The row's fields that tell the user why it failed.
    failure: Callable[[str], dict[str, Any]]


def _error(reason: str) -> dict[str, Any]:
    return {"error": reason}


KINDS: list[JobKind] = [
    JobKind(Export, RUN_EXPORT, _error),
    JobKind(CocoImport, RUN_IMPORT, lambda reason: {"errors": [reason]}),
    JobKind(ProposalJob, RUN_PROPOSALS, _error),
    JobKind(EvaluationRun, RUN_EVALUATION, _error),
    # Safe to run again: each image's concept proposals are replaced, not added.
    JobKind(ConceptJob, RUN_CONCEPTS, _error),
    # Safe to run again: a run keeps nothing until it ends (the gate writes the version).
    JobKind(TrainingJob, RUN_TRAINING, _error),
]


def sweep() -> int:
    """Queue again or fail every orphaned job row; returns how many rows were acted on."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.ANYMASK_JOB_STALE_SECONDS)
    acted = 0
    for kind in KINDS:
        orphaned = kind.model.objects.filter(
            Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, created_at__lt=stale),
            status=JobStatus.RUNNING,
        )
        for row_id, beat, runs in orphaned.values_list("pk", "heartbeat_at", "runs")[:BATCH]:
            taken = kind.model.objects.filter(
                pk=row_id, status=JobStatus.RUNNING, heartbeat_at=beat
            )
            acted += _requeue(kind, taken, row_id) if runs < MAX_RUNS else _fail(kind, taken)
        acted += _resend_lost(kind, now)
    # Concept queries whose socket died before it read the answer (or before the
    # worker took them): nobody will read them.
    do_discard_stale(2 * settings.ANYMASK_CONCEPT_TIMEOUT_SECONDS)
    return acted


def _resend_lost(kind: JobKind, now: Any) -> int:
    """Queued rows whose task is gone (never sent while the broker was down, or lost
    with a broker that restarted without persistence) are sent again, at most once
    per ANYMASK_EMBEDDING_REQUEUE_SECONDS each, and only while nothing waits in their
    queue. A duplicate delivery is harmless: only one can take the row
    (`progress.claim_queued`). For a queued row `heartbeat_at` is when it was last sent."""
    if waiting(queue_of(kind.task)):
        return 0
    cutoff = now - timedelta(seconds=settings.ANYMASK_EMBEDDING_REQUEUE_SECONDS)
    lost = kind.model.objects.filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff),
        status=JobStatus.QUEUED,
    )
    sent = 0
    for row_id, beat in lost.values_list("pk", "heartbeat_at")[:BATCH]:
        if kind.model.objects.filter(pk=row_id, status=JobStatus.QUEUED, heartbeat_at=beat).update(
            heartbeat_at=now
        ):
            logger.warning("%s %s: its task was lost; sent again", kind.model.__name__, row_id)
            enqueue(kind.task, row_id)
            sent += 1
    return sent


def _requeue(kind: JobKind, taken: Any, row_id: int) -> int:
    if not taken.update(status=JobStatus.QUEUED, heartbeat_at=None, done=0):
        return 0
    logger.warning("%s %s: %s; queued again", kind.model.__name__, row_id, STOPPED.lower())
    try:
        enqueue(kind.task, row_id)
    except Exception:
        # Not sent (the broker is down): back to an orphan, for the next sweep.
        kind.model.objects.filter(pk=row_id, status=JobStatus.QUEUED).update(
            status=JobStatus.RUNNING
        )
        raise
    return 1


def _fail(kind: JobKind, taken: Any) -> int:
    reason = f"{STOPPED}, {MAX_RUNS} times; it was not run again."
    fields = {"status": JobStatus.FAILED, "finished_at": timezone.now(), **kind.failure(reason)}
    if not taken.update(**fields):
        return 0
    logger.warning("%s: %s", kind.model.__name__, reason)
    return 1


def sweep_and_log() -> None:
    try:
        acted = sweep()
    except Exception as error:  # the broker or the database is down: next time
        logger.warning("job sweep failed: %s", error)
    else:
        if acted:
            logger.info("job sweep acted on %s job(s)", acted)
