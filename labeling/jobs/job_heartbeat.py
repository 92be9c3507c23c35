"""A running job's heartbeat: proof, on its row, that its worker is alive.

A worker that dies mid-job (SIGKILL, out of memory, a lost host) cannot mark its row;
without this the row would say "running" for good. While the task body runs, a
thread touches `heartbeat_at` every ANYMASK_JOB_HEARTBEAT_SECONDS; the sweep
(`job_sweep`) treats a running row silent for ANYMASK_JOB_STALE_SECONDS as orphaned.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from labeling.models import JobStatus

logger = logging.getLogger(__name__)


def touch(model: Any, row_id: int) -> int:
    """One beat; it only lands on a running row (a finished job stays as it ended)."""
    rows = model.objects.filter(pk=row_id, status=JobStatus.RUNNING)
    return int(rows.update(heartbeat_at=timezone.now()))


@contextmanager
def beating(model: Any, row_id: int) -> Iterator[None]:
    """Beat for the job row `row_id` of `model` while the body runs."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.ANYMASK_JOB_HEARTBEAT_SECONDS):
                try:
                    touch(model, row_id)
                except Exception:  # a database hiccup: try again at the next beat
                    logger.warning("job %s %s: no heartbeat", model.__name__, row_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection (back to the pool)

    thread = threading.Thread(target=beat, name=f"job-{model.__name__}-{row_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
