"""Machine proposals, SAM's data engine as a workflow.

An admin runs SAM's automatic masks on one image, a selection or the whole project,
as a background job with progress. Its masks arrive as proposals (status proposed,
source auto), replacing that image's earlier proposals; annotators accept them
(with a category: they become drafts), fix them with the brush, or discard them.
Which masks are kept is set on the project (predicted IoU, stability, minimum area).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from labeling import embeddings
from labeling.events import nudge_pages_on_commit
from labeling.models import (
    Annotation,
    AnnotationSource,
    AnnotationStatus,
    ExportStatus,
    Image,
    Project,
    ProposalJob,
)
from labeling.services.annotations import do_create_annotation, do_delete_annotation
from labeling.services.errors import ServiceError
from labeling.services.jobs import RowProgress, claim_queued

logger = logging.getLogger(__name__)

MAX_IMAGES_PER_JOB = 10_000


def propose_for_image(
    image: Image,
    *,
    points_per_side: int = 32,
    pred_iou_thresh: float | None = None,
    stability_score_thresh: float = 0.95,
    min_region_area: int = 100,
) -> int:
    """SAM's "segment everything" on one image; its masks replace the image's earlier
    machine proposals. Returns how many were stored."""
    from inference import generate_automatic_masks, load_model

    spec = image.project.model_spec
    model = load_model(spec)
    embedding = embeddings.load_or_compute(image, model, spec)
    found = generate_automatic_masks(
        model,
        embedding,
        points_per_side=points_per_side,
        pred_iou_thresh=pred_iou_thresh,
        stability_score_thresh=stability_score_thresh,
        min_region_area=min_region_area,
    )
    with transaction.atomic():
        # Two runs on one image (a canceled job finishing its image while a new one
        # starts) take turns here, so the second replaces the first's proposals.
        Image.objects.select_for_update().filter(pk=image.pk).first()
        stale = Annotation.objects.filter(
            image=image, status=AnnotationStatus.PROPOSED, source=AnnotationSource.AUTO
        )
        for old in stale:
            do_delete_annotation(image, old.pk, None, expected_version=old.version)
        for mask in found:
            do_create_annotation(
                image,
                None,
                rle=mask.rle,
                source=AnnotationSource.AUTO,
                status=AnnotationStatus.PROPOSED,
                score=mask.score,
            )
    return len(found)


def check_filters(min_iou: Any, min_stability: Any, min_area: Any) -> tuple[float, float, int]:
    try:
        iou, stability, area = float(min_iou), float(min_stability), int(min_area)
    except (TypeError, ValueError):
        raise ServiceError("The filters must be numbers.") from None
    if not (0 <= iou <= 1 and 0 <= stability <= 1):
        raise ServiceError("Predicted IoU and stability are between 0 and 1.")
    if not 0 <= area <= 10_000_000:
        raise ServiceError("The minimum area is 0 to 10,000,000 pixels.")
    return iou, stability, area


def do_update_filters(project: Project, min_iou: Any, min_stability: Any, min_area: Any) -> None:
    iou, stability, area = check_filters(min_iou, min_stability, min_area)
    Project.objects.filter(pk=project.pk).update(
        proposal_min_iou=iou, proposal_min_stability=stability, proposal_min_area=area
    )


def do_start_proposals(project: Project, user: Any, image_ids: list[int] | None) -> ProposalJob:
    """Queue proposals for these images of the project (None: every image)."""
    images = Image.objects.filter(project=project)
    if image_ids is not None:
        images = images.filter(pk__in=image_ids)
    ids = list(images.order_by("pk").values_list("pk", flat=True)[: MAX_IMAGES_PER_JOB + 1])
    if not ids:
        raise ServiceError("Pick at least one image of this project.")
    if len(ids) > MAX_IMAGES_PER_JOB:
        raise ServiceError(f"At most {MAX_IMAGES_PER_JOB} images per run.")
    with transaction.atomic():
        job = ProposalJob.objects.create(
            project=project, created_by=user, image_ids=ids, total=len(ids)
        )
        transaction.on_commit(lambda: _queue(job.pk))
    return job


def _queue(job_id: int) -> None:
    from labeling.tasks import run_proposals

    run_proposals.delay(job_id)


def perform_proposals(job_id: int) -> str:
    if not claim_queued(ProposalJob, job_id):
        return "not queued"
    job = ProposalJob.objects.select_related("project").get(pk=job_id)
    project, progress = job.project, RowProgress(ProposalJob, job_id)
    stored = 0
    running = ProposalJob.objects.filter(pk=job_id, status=ExportStatus.RUNNING)
    try:
        for done, image in enumerate(Image.objects.filter(pk__in=job.image_ids), start=1):
            # A cancel takes effect between images: the ones done keep their proposals.
            if not running.exists():
                nudge_pages_on_commit(project.pk)
                return "canceled"
            image.project = project
            stored += propose_for_image(
                image,
                points_per_side=settings.ANYMASK_PROPOSAL_POINTS_PER_SIDE,
                pred_iou_thresh=project.proposal_min_iou,
                stability_score_thresh=project.proposal_min_stability,
                min_region_area=project.proposal_min_area,
            )
            progress(done, len(job.image_ids))
            ProposalJob.objects.filter(pk=job_id).update(proposals=stored)
    except Exception as error:
        logger.exception("proposals %s failed", job_id)
        running.update(
            status=ExportStatus.FAILED,
            finished_at=timezone.now(),
            error=f"Stopped: {type(error).__name__}. Images done so far keep their proposals.",
        )
        nudge_pages_on_commit(project.pk)
        return "failed"
    # Conditional: a cancel that came during the last image stands.
    finished = running.update(
        status=ExportStatus.DONE, finished_at=timezone.now(), done=len(job.image_ids)
    )
    nudge_pages_on_commit(project.pk)  # the project page shows the job's end
    return "done" if finished else "canceled"


ACTIVE = (ExportStatus.QUEUED, ExportStatus.RUNNING)


def do_cancel_proposals(project: Project, job_id: int) -> ProposalJob:
    """Stop a queued or running job of this project. A queued job never starts; a
    running one stops before its next image (the worker checks between images)."""
    job = ProposalJob.objects.filter(pk=job_id, project=project).first()
    if job is None:
        raise ServiceError("No such proposal job in this project.")
    # One conditional update, so a cancel racing the job's own end changes nothing.
    stopped = ProposalJob.objects.filter(pk=job_id, status__in=ACTIVE).update(
        status=ExportStatus.CANCELED,
        finished_at=timezone.now(),
        error="Canceled. Images done before the cancel keep their proposals.",
    )
    if not stopped:
        raise ServiceError("This job has already finished.")
    nudge_pages_on_commit(project.pk)
    job.refresh_from_db()
    return job


def job_json(job: ProposalJob) -> dict[str, Any]:
    return {
        "id": job.pk,
        "status": job.status,
        "done": job.done,
        "total": job.total,
        "proposals": job.proposals,
        "error": job.error,
    }
