"""What every background job with a row (export, import, proposals) shares: taking
its row from queued to running exactly once, and writing progress the page polls."""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from labeling.models import JobStatus

# How often a running job writes its progress to its row.
PROGRESS_EVERY_SECONDS = 0.5


def claim_queued(model: Any, row_id: int, *, guarded: bool = False, **fields: Any) -> bool:
    """Mark a queued job running; False if it is not queued (a duplicate delivery of
    the task, or a job already run), in which case the caller does nothing. The first
    heartbeat is written with the claim, so the sweep never sees a silent running row.

    `fields` are more columns to write with the claim. `guarded`: the database may
    refuse the claim (training's partial unique index allows one running run per
    project); the update then runs in a savepoint of its own, so the refusal, an
    `IntegrityError` the caller handles, leaves any surrounding transaction usable.
    """
    claim = model.objects.filter(pk=row_id, status=JobStatus.QUEUED)
    running = {
        "status": JobStatus.RUNNING,
        "heartbeat_at": timezone.now(),
        "runs": F("runs") + 1,
        **fields,
    }
    with transaction.atomic() if guarded else nullcontext():
        claimed = bool(claim.update(**running))
    if claimed and settings.ANYMASK_TEST_JOB_DELAY_MS:  # tests only: a window to kill us in
        time.sleep(settings.ANYMASK_TEST_JOB_DELAY_MS / 1000)
    return claimed


class RowProgress:
    """Writes (done, total) to a job's row at most every PROGRESS_EVERY_SECONDS."""

    def __init__(self, model: Any, row_id: int, offset: int = 0) -> None:
        self.model, self.row_id, self.offset, self.last = model, row_id, offset, 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_SECONDS or done == total:
            self.last = now
            self.model.objects.filter(pk=self.row_id).update(
                done=self.offset + done, total=self.offset + total
            )
