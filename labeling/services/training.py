"""Fine-tuning and model versions: start or cancel a training run, keep its decoder
as a version, adopt a version or roll back (admins only: `Ability.TRAIN`).

Adopting changes `Project.adopted_version` and nothing else: a version is only a
mask decoder over the same frozen encoder, so every stored embedding stays valid
and nothing is re-encoded. Open labeling sockets read the project's adopted version
with their per-prompt access check, so the next prompt decodes with it.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from inference import canonical_spec
from labeling.events import nudge_pages_on_commit
from labeling.file_cleanup import delete_files_on_commit
from labeling.model_versions import ModelVersion, TrainingJob
from labeling.models import JobStatus, Project
from labeling.queueing import RUN_TRAINING, enqueue_on_commit
from labeling.services.errors import ServiceError
from labeling.services.job_cancel import do_cancel_job

MAX_SEED = 2**31 - 1


def check_training_options(time_budget_seconds: Any, seed: Any) -> tuple[int, int]:
    """(seconds, seed) from a form or the API; blank means the defaults."""
    try:
        seconds = (
            settings.ANYMASK_TRAINING_SECONDS
            if time_budget_seconds in (None, "")
            else int(time_budget_seconds)
        )
        chosen_seed = 0 if seed in (None, "") else int(seed)
    except (TypeError, ValueError):
        raise ServiceError("The time budget and the seed must be whole numbers.") from None
    limit = settings.ANYMASK_TRAINING_MAX_SECONDS
    if not 10 <= seconds <= limit:
        raise ServiceError(f"The time budget must be 10 to {limit} seconds.", field="seconds")
    if not 0 <= chosen_seed <= MAX_SEED:
        raise ServiceError(f"The seed must be 0 to {MAX_SEED}.", field="seed")
    return seconds, chosen_seed


def do_start_training(project: Project, user: Any, seconds: int, seed: int) -> TrainingJob:
    """Queue a training run. A run already going on this project is not refused: the
    new one waits for it (the worker's claim is guarded by the database)."""
    with transaction.atomic():
        job = TrainingJob.objects.create(
            project=project,
            created_by=user,
            seed=seed,
            time_budget_seconds=seconds,
            max_steps=settings.ANYMASK_TRAINING_MAX_STEPS,
            total=settings.ANYMASK_TRAINING_MAX_STEPS,
        )
        enqueue_on_commit(RUN_TRAINING, job.pk)
        nudge_pages_on_commit(project.pk)
    return job


def do_cancel_training(project: Project, job_id: int) -> TrainingJob:
    """Stop a queued or running run: a running one stops at its next step and keeps
    no version."""
    return do_cancel_job(
        TrainingJob,
        project,
        job_id,
        noun="training run",
        error="Canceled; no version was kept.",
        waiting=False,
    )


def do_keep_version(
    job: TrainingJob, decoder: bytes, metrics: dict[str, Any]
) -> ModelVersion | None:
    """Store a tuned decoder as the project's next version, unless the run was
    canceled meanwhile (then nothing is kept). Marks the job done."""
    name = f"model_versions/{job.project_id}/{uuid.uuid4().hex}.safetensors"
    stored = default_storage.save(name, ContentFile(decoder))
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=job.project_id)
        running = TrainingJob.objects.select_for_update().filter(
            pk=job.pk, status=JobStatus.RUNNING
        )
        if not running.exists():
            delete_files_on_commit([stored])
            return None
        last = project.model_versions.aggregate(n=Max("number"))["n"] or 0
        version = ModelVersion.objects.create(
            project=project,
            number=last + 1,
            base_spec=project.model_spec,
            decoder_file=stored,
            created_by=job.created_by,
            metrics=metrics,
        )
        running.update(
            status=JobStatus.DONE, finished_at=timezone.now(), version=version, metrics=metrics
        )
        nudge_pages_on_commit(project.pk)
    return version


def do_adopt_version(project: Project, number: int | None) -> ModelVersion | None:
    """Make version `number` what the project decodes with (None: the base model).
    Any earlier version can be adopted again: that is the rollback."""
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        version = None
        if number is not None:
            version = ModelVersion.objects.filter(project=locked, number=number).first()
            if version is None:
                raise ServiceError(f"This project has no version {number}.")
            if canonical_spec(version.base_spec) != canonical_spec(locked.model_spec):
                raise ServiceError(
                    f"Version {number} was tuned on {version.base_spec}, but the project now "
                    f"uses {locked.model_spec}."
                )
        locked.adopted_version = version
        locked.save(update_fields=["adopted_version"])
        nudge_pages_on_commit(locked.pk)
    project.adopted_version = version
    return version


def version_json(version: ModelVersion, adopted_id: int | None) -> dict[str, Any]:
    return {**version.summary_json(), "adopted": version.pk == adopted_id}


def job_json(job: TrainingJob) -> dict[str, Any]:
    return {
        **job.progress_json(),
        **job.origin_json(),
        "waiting": job.waiting,
        "phase": job.phase,
        "loss": job.loss,
        "remaining_seconds": job.remaining_seconds,
        "time_budget_seconds": job.time_budget_seconds,
        "seed": job.seed,
        "metrics": job.metrics,
        "version": job.version.number if job.version_id and job.version else None,
        "error": job.error,
    }


def versions_page(project: Project) -> dict[str, Any]:
    """Everything the Model versions page and its API show."""
    versions = project.model_versions.select_related("created_by").order_by("-number")
    jobs = project.training_jobs.select_related("created_by", "version").order_by("-id")[:20]
    adopted = project.adopted_version_id
    adopted_number = next((v.number for v in versions if v.pk == adopted), None)
    rows = [job_json(j) for j in jobs]
    if any(row["status"] == JobStatus.RUNNING for row in rows):
        for row in rows:  # the database lets one run go at a time: the others wait
            row["waiting"] = row["waiting"] or row["status"] == JobStatus.QUEUED
    return {
        "adopted": adopted_number,
        "base_spec": project.model_spec,
        "versions": [version_json(v, adopted) for v in versions],
        "jobs": rows,
    }
