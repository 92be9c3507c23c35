"""Cancel one background job's row, whatever the job (proposals, Find all,
evaluation, training): each of them stops the same way, the worker seeing the
status change between its images or steps."""

from __future__ import annotations

from typing import Any, TypeVar

from django.utils import timezone

from labeling.events import nudge_pages_on_commit
from labeling.models import Job, JobStatus, Project
from labeling.services.errors import ServiceError

# The statuses a job can still be stopped in (and that count as "going on").
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)

J = TypeVar("J", bound=Job)


def do_cancel_job(
    model: type[J],
    project: Project,
    job_id: int,
    *,
    noun: str,
    error: str,
    finished_noun: str | None = None,
    nudge: bool = True,
    **fields: Any,
) -> J:
    """Stop job `job_id` of `project` if it is queued or running, writing `error`
    (what the page says of it) and any other `fields` with the cancel.

    `noun` names the job in "No such <noun> in this project."; `finished_noun`
    (default: `noun`) in "This <finished_noun> has already finished.". `nudge`
    tells the project's pages to fetch their status again.
    """
    # Every job model declares its own `project` key (see Job), so the manager is
    # reached through the concrete class.
    rows = model._default_manager
    job = rows.filter(pk=job_id, project=project).first()
    if job is None:
        raise ServiceError(f"No such {noun} in this project.")
    # One conditional update, so a cancel racing the job's own end changes nothing.
    stopped = rows.filter(pk=job_id, status__in=ACTIVE).update(
        status=JobStatus.CANCELED, finished_at=timezone.now(), error=error, **fields
    )
    if not stopped:
        raise ServiceError(f"This {finished_noun or noun} has already finished.")
    if nudge:
        nudge_pages_on_commit(project.pk)
    job.refresh_from_db()
    return job
