"""Each Celery task's duration into `anymask_job_duration_seconds{kind, outcome}`.

Connected to Celery's task signals (labeling/celery_app.py), so every job kind is
measured without each task doing it: the kind is the task's short name
(`compute_embedding`, `run_export`, ...).
"""

from __future__ import annotations

import time
from typing import Any

from celery.signals import task_postrun, task_prerun

_started: dict[str, float] = {}


@task_prerun.connect
def _job_started(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id is not None:
        _started[task_id] = time.perf_counter()


@task_postrun.connect
def _job_ended(
    task_id: str | None = None, task: Any = None, state: str | None = None, **kwargs: Any
) -> None:
    started = _started.pop(task_id or "", None)
    if started is None or task is None:
        return
    from labeling import metrics

    kind = str(task.name).rsplit(".", 1)[-1]
    outcome = "ok" if state == "SUCCESS" else "failed"
    metrics.JOB_SECONDS.labels(kind, outcome).observe(time.perf_counter() - started)
