"""Celery tasks: thin wrappers over `labeling.jobs`, one per job.

They take ids, and the jobs tolerate rows that vanished and are idempotent. Each
task's queue is set in `settings.ANYMASK_TASK_QUEUES` (GPU work on `embeddings` and
`automatic`, the rest on `default`); services send them by name
(`labeling.queueing`), so nothing below this module imports it.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings

from labeling import image_tallies, queueing
from labeling.jobs import (
    classifier,
    coco_import,
    concepts,
    embedding,
    embedding_sweep,
    evaluation,
    export,
    job_heartbeat,
    job_sweep,
    proposals,
    training,
)
from labeling.jobs.periodic import Periodic
from labeling.models import (
    CocoImport,
    ConceptJob,
    EvaluationRun,
    Export,
    Image,
    ProposalJob,
    TrainingJob,
)

MAX_RETRIES = 5


@shared_task(
    bind=True,
    name=queueing.COMPUTE_EMBEDDING,
    max_retries=MAX_RETRIES,
    # A backstop for hiccups outside the encode (the status updates): the job itself
    # asks for a retry (RetryLater) when the model or the encode fails transiently.
    autoretry_for=embedding.TRANSIENT_ERRORS,
    retry_backoff=embedding.RETRY_BASE_SECONDS,
    retry_backoff_max=embedding.RETRY_MAX_SECONDS,
    retry_jitter=True,
)
def compute_embedding(self: Any, image_id: int) -> str:
    """Compute and store the SAM embedding of one image, unless it already exists."""
    try:
        return embedding.embed_image(
            image_id, retries=self.request.retries, max_retries=self.max_retries
        )
    except embedding.RetryLater as later:
        raise self.retry(exc=later.cause, countdown=later.delay) from later.cause


@shared_task(
    name=queueing.AUTO_SEGMENT,
    autoretry_for=embedding.TRANSIENT_ERRORS,
    retry_backoff=5,
    max_retries=3,
)
def auto_segment(image_id: int, **filters: Any) -> int:
    """SAM's "segment everything" on one image; its masks replace the image's earlier
    machine proposals (status proposed, source auto). Returns how many were stored.
    `filters`: `propose_for_image`'s keyword arguments (points per side, thresholds)."""
    image = Image.objects.select_related("project").filter(pk=image_id).first()
    if image is None:
        return 0
    return proposals.propose_for_image(image, **filters)


@shared_task(name=queueing.RUN_EXPORT)
def run_export(export_id: int) -> str:
    """A COCO export (labeling/jobs/export.py); its row records the outcome."""
    with job_heartbeat.beating(Export, export_id):
        return export.perform_export(export_id)


@shared_task(name=queueing.RUN_IMPORT)
def run_import(import_id: int) -> str:
    """A COCO import (labeling/jobs/coco_import.py); its row records the outcome."""
    with job_heartbeat.beating(CocoImport, import_id):
        return coco_import.perform_import(import_id)


@shared_task(name=queueing.RUN_PROPOSALS)
def run_proposals(job_id: int) -> str:
    """Machine proposals for a job's images (labeling/jobs/proposals.py)."""
    with job_heartbeat.beating(ProposalJob, job_id):
        return proposals.perform_proposals(job_id)


@shared_task(name=queueing.TRAIN_CLASSIFIER)
def train_classifier(project_id: int) -> str:
    """Retrain a project's category classifier (labeling/jobs/classifier.py)."""
    return classifier.train_classifier(project_id)


@shared_task(name=queueing.RUN_EVALUATION)
def run_evaluation(run_id: int) -> str:
    """A model-quality evaluation run (labeling/jobs/evaluation.py)."""
    with job_heartbeat.beating(EvaluationRun, run_id):
        return evaluation.perform_evaluation(run_id)


@shared_task(name=queueing.CONCEPT_QUERY)
def concept_query(query_id: int) -> str:
    """One labeling socket's concept query (labeling/jobs/concepts.py)."""
    return concepts.answer_query(query_id)


@shared_task(name=queueing.RUN_CONCEPTS)
def run_concepts(job_id: int) -> str:
    """Find all: concept proposals for a job's images and categories."""
    with job_heartbeat.beating(ConceptJob, job_id):
        return concepts.perform_concepts(job_id)


_sweepers: list[Periodic] = []


@shared_task(bind=True, name=queueing.RUN_TRAINING, max_retries=None)
def run_training(self: Any, job_id: int) -> str:
    """Fine-tune a project's mask decoder (labeling/jobs/training.py). While another
    run of the project is running, this one waits: the task retries later."""
    with job_heartbeat.beating(TrainingJob, job_id):
        outcome = training.perform_training(job_id)
    if outcome == "waiting":
        raise self.retry(countdown=settings.ANYMASK_TRAINING_WAIT_SECONDS)
    return outcome


@worker_ready.connect
def start_sweeps(sender: Any, **_: Any) -> None:
    """Every worker fails or re-queues the job rows of dead workers (`job_sweep`); a
    worker that serves the embeddings queue also re-queues stranded images (a dead
    worker's, a lost task's). Both now, then every ANYMASK_*_SWEEP_SECONDS."""
    sweeps = [
        Periodic("job-sweep", settings.ANYMASK_JOB_SWEEP_SECONDS, job_sweep.sweep_and_log),
        # Folds the image tallies that status changes piled up (labeling/image_tallies.py).
        Periodic("tally-sweep", settings.ANYMASK_JOB_SWEEP_SECONDS, image_tallies.compact_and_log),
    ]
    served = {queue.name for queue in sender.task_consumer.queues}
    if queueing.queue_of(queueing.COMPUTE_EMBEDDING) in served:
        interval = settings.ANYMASK_EMBEDDING_SWEEP_SECONDS
        sweeps.append(Periodic("embedding-sweep", interval, embedding_sweep.sweep_and_log))
    for sweeper in sweeps:
        sweeper.start()
        _sweepers.append(sweeper)


@worker_shutdown.connect
def stop_sweeps(**_: Any) -> None:
    for sweeper in _sweepers:
        sweeper.stop()
