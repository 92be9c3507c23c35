"""Machine proposals' jobs: SAM's automatic masks on one image (`auto_segment`) or
on a job's images, with progress and cancel (`run_proposals`).

The masks are written by `services.proposals.do_replace_proposals`; the filters
come from the project (predicted IoU, stability, minimum area). With a category
classifier trained, each proposal comes pre-filled with its suggested category and
the classifier's confidence in it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.utils import timezone

from inference import InferenceError
from labeling import category_store, embedding_store
from labeling.events import nudge_pages_on_commit
from labeling.jobs.progress import PROGRESS_EVERY_SECONDS, RowProgress, claim_queued
from labeling.models import Category, EmbeddingStatus, Image, JobStatus, ProposalJob
from labeling.project_models import model_for
from labeling.services.proposals import (
    EMPTY_NOTES_MAX,
    Suggestion,
    do_replace_proposals,
    why_none,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageProposals:
    stored: int
    why_none: str  # why nothing was stored; "" when something was


def propose_on_image(
    image: Image,
    *,
    points_per_side: int = 32,
    pred_iou_thresh: float | None = None,
    stability_score_thresh: float = 0.95,
    min_region_area: int = 100,
    on_points: Callable[[int, int], None] | None = None,
) -> ImageProposals:
    """SAM's "segment everything" on one image; its masks replace the image's earlier
    machine proposals. `on_points(done, total)` follows the grid clicks decoded.
    An image that cannot be embedded gets none (its earlier ones stay), and says so."""
    from inference import find_automatic_masks

    if image.embedding_status == EmbeddingStatus.FAILED:
        # Encoding it failed for good (a file the model cannot read, say): trying again
        # inside every proposal run would only fail the same way, more slowly.
        return ImageProposals(0, f"image not embedded: {image.embedding_error or 'it failed'}")
    model = model_for(image.project)
    try:
        embedding = embedding_store.read_or_compute(model, image)
    except InferenceError as error:
        return ImageProposals(0, f"image not embedded: {error}")
    run = find_automatic_masks(
        model,
        embedding,
        points_per_side=points_per_side,
        pred_iou_thresh=pred_iou_thresh,
        stability_score_thresh=stability_score_thresh,
        min_region_area=min_region_area,
        on_progress=on_points,
    )
    suggested = suggest_categories(image, embedding, run.masks)
    stored = do_replace_proposals(image, run.masks, suggested)
    return ImageProposals(stored, "" if stored else why_none(run.counts))


def propose_for_image(image: Image, **options: Any) -> int:
    """`propose_on_image`, returning how many proposals were stored (the task's result)."""
    return propose_on_image(image, **options).stored


class PointsProgress:
    """Writes the current image's decoded clicks to the job's row, at most every
    PROGRESS_EVERY_SECONDS (a 32 x 32 grid reports 64 batches per image)."""

    def __init__(self, job_id: int) -> None:
        self.rows, self.last = ProposalJob.objects.filter(pk=job_id), 0.0

    def start(self, image: Image) -> None:
        self.rows.update(current_image=image.original_name, points_done=0, points_total=0)
        self.last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_SECONDS or done == total:
            self.last = now
            self.rows.update(points_done=done, points_total=total)


def suggest_categories(image: Image, embedding: Any, found: list[Any]) -> list[Suggestion]:
    """The project classifier's (category id, confidence) for each found mask; (None,
    None) for all when there is no classifier, and for a suggested category that has
    been deleted since the classifier learned it."""
    head = category_store.load(image.project.category_head)
    if head is None or not found:
        return [(None, None)] * len(found)
    from inference.category_features import rle_features

    rows = np.stack([rle_features(embedding, mask.rle) for mask in found])
    existing = set(
        Category.objects.filter(project_id=image.project_id).values_list("pk", flat=True)
    )
    return [
        (category, round(confidence, 4)) if category in existing else (None, None)
        for category, confidence in head.suggest(rows)
    ]


def perform_proposals(job_id: int) -> str:
    if not claim_queued(ProposalJob, job_id):
        return "not queued"
    job = ProposalJob.objects.select_related("project").get(pk=job_id)
    project, progress = job.project, RowProgress(ProposalJob, job_id)
    points = PointsProgress(job_id)
    stored, empty = 0, 0
    notes: list[dict[str, str]] = []
    running = ProposalJob.objects.filter(pk=job_id, status=JobStatus.RUNNING)
    try:
        for done, image in enumerate(Image.objects.filter(pk__in=job.image_ids), start=1):
            # A cancel takes effect between images: the ones done keep their proposals.
            if not running.exists():
                nudge_pages_on_commit(project.pk)
                return "canceled"
            image.project = project
            points.start(image)
            outcome = propose_on_image(
                image,
                points_per_side=settings.ANYMASK_PROPOSAL_POINTS_PER_SIDE,
                pred_iou_thresh=project.proposal_min_iou,
                stability_score_thresh=project.proposal_min_stability,
                min_region_area=project.proposal_min_area,
                on_points=points,
            )
            stored += outcome.stored
            if not outcome.stored:
                empty += 1
                if len(notes) < EMPTY_NOTES_MAX:
                    notes.append({"image": image.original_name, "reason": outcome.why_none})
            progress(done, len(job.image_ids))
            ProposalJob.objects.filter(pk=job_id).update(
                proposals=stored, empty_images=empty, empty_notes=notes
            )
    except Exception as error:
        logger.exception("proposals %s failed", job_id)
        running.update(
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            error=f"Stopped: {type(error).__name__}. Images done so far keep their proposals.",
        )
        nudge_pages_on_commit(project.pk)
        return "failed"
    # Conditional: a cancel that came during the last image stands.
    finished = running.update(
        status=JobStatus.DONE, finished_at=timezone.now(), done=len(job.image_ids)
    )
    nudge_pages_on_commit(project.pk)  # the project page shows the job's end
    return "done" if finished else "canceled"
