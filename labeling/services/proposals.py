"""Machine proposals, SAM's data engine as a workflow.

An admin runs SAM's automatic masks on one image, a selection or the whole project,
as a background job with progress. Its masks arrive as proposals (status proposed,
source auto), replacing that image's earlier proposals; annotators accept them
(with a category: they become drafts), fix them with the brush, or discard them.
Which masks are kept is set on the project (predicted IoU, stability, minimum area).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from labeling.models import (
    Annotation,
    AnnotationSource,
    AnnotationStatus,
    Image,
    JobStatus,
    Project,
    ProposalJob,
)
from labeling.queueing import RUN_PROPOSALS, enqueue_on_commit
from labeling.services.annotations import do_create_annotation, do_delete_annotation
from labeling.services.errors import ServiceError
from labeling.services.job_cancel import do_cancel_job
from labeling.wording import plural

MAX_IMAGES_PER_JOB = 10_000
EMPTY_NOTES_MAX = 20  # images whose "why none" a job keeps; the rest are counted


def why_none(counts: Any) -> str:
    """Why a run of the automatic generator kept nothing, from its `FilterCounts`:
    "all 108 candidates filtered out by predicted IoU ≤ 0.88", or each filter's share
    when several removed some."""
    if counts.candidates == 0:
        return "no candidates were decoded"
    stages = [
        (counts.below_iou, f"by predicted IoU ≤ {counts.pred_iou_thresh:g}"),
        (counts.unstable, f"by stability score ≤ {counts.stability_score_thresh:g}"),
        (counts.empty, "as empty masks"),
        (counts.duplicates, "as duplicates of other masks"),
        (counts.too_small, f"by min area < {counts.min_region_area} px"),
    ]
    removed = [(count, how) for count, how in stages if count]
    head = f"all {counts.candidates} candidates filtered out"
    if len(removed) == 1:
        return f"{head} {removed[0][1]}"
    return f"{head}: " + ", ".join(f"{count} {how}" for count, how in removed)


Suggestion = tuple[int | None, float | None]  # (category id, the classifier's confidence)


def do_replace_proposals(
    image: Image, found: list[Any], suggestions: list[Suggestion] | None = None
) -> int:
    """Make `found` (masks with `rle` and `score`, from the automatic generator) the
    image's machine proposals, replacing its earlier ones, each with its suggested
    category (`suggestions`, one per mask). Returns how many."""
    suggestions = suggestions or [(None, None)] * len(found)
    with transaction.atomic():
        # Two runs on one image (a canceled job finishing its image while a new one
        # starts) take turns here, so the second replaces the first's proposals.
        Image.objects.select_for_update().filter(pk=image.pk).first()
        stale = Annotation.objects.filter(
            image=image, status=AnnotationStatus.PROPOSED, source=AnnotationSource.AUTO
        )
        for old in stale:
            do_delete_annotation(image, old.pk, None, expected_version=old.version)
        for mask, (category_id, confidence) in zip(found, suggestions, strict=True):
            do_create_annotation(
                image,
                None,
                rle=mask.rle,
                source=AnnotationSource.AUTO,
                status=AnnotationStatus.PROPOSED,
                score=mask.score,
                category_id=category_id,
                category_confidence=confidence,
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
        enqueue_on_commit(RUN_PROPOSALS, job.pk)
    return job


def do_cancel_proposals(project: Project, job_id: int) -> ProposalJob:
    """Stop a queued or running job of this project. A queued job never starts; a
    running one stops before its next image (the worker checks between images)."""
    return do_cancel_job(
        ProposalJob,
        project,
        job_id,
        noun="proposal job",
        finished_noun="job",
        error="Canceled. Images done before the cancel keep their proposals.",
    )


def job_where(job: ProposalJob) -> str:
    """Where a running job is: "image 3 of 10: cat.png · points 320/1024"."""
    if job.status != JobStatus.RUNNING or not job.current_image:
        return ""
    number = min(job.done + 1, job.total)
    where = f"image {number} of {job.total}: {job.current_image}"
    if job.points_total:
        where += f" · points {job.points_done}/{job.points_total}"
    return where


def job_why(job: ProposalJob) -> list[str]:
    """One line per image that got no proposals, saying why (the first few)."""
    lines = [f"No proposals for {note['image']}: {note['reason']}" for note in job.empty_notes]
    more = job.empty_images - len(job.empty_notes)
    if more > 0:
        lines.append(f"… and {plural(more, 'more image')} without proposals")
    return lines


def job_json(job: ProposalJob) -> dict[str, Any]:
    return {
        **job.progress_json(),
        "proposals": job.proposals,
        "error": job.error,
        "where": job_where(job),
        "why": job_why(job),
    }
