"""Machine proposals' jobs: SAM's automatic masks on one image (`auto_segment`) or
on a job's images, with progress and cancel (`run_proposals`).

The masks are written by `services.proposals.do_replace_proposals`; the filters
come from the project (predicted IoU, stability, minimum area). With a category
classifier trained, each proposal comes pre-filled with its suggested category and
the classifier's confidence in it.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from django.conf import settings
from django.utils import timezone

from labeling import category_store, embedding_store
from labeling.events import nudge_pages_on_commit
from labeling.jobs.progress import RowProgress, claim_queued
from labeling.models import Category, Image, JobStatus, ProposalJob
from labeling.project_models import model_for
from labeling.services.proposals import Suggestion, do_replace_proposals

logger = logging.getLogger(__name__)


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
    from inference import generate_automatic_masks

    model = model_for(image.project)
    embedding = embedding_store.read_or_compute(model, image)
    found = generate_automatic_masks(
        model,
        embedding,
        points_per_side=points_per_side,
        pred_iou_thresh=pred_iou_thresh,
        stability_score_thresh=stability_score_thresh,
        min_region_area=min_region_area,
    )
    return do_replace_proposals(image, found, suggest_categories(image, embedding, found))


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
    stored = 0
    running = ProposalJob.objects.filter(pk=job_id, status=JobStatus.RUNNING)
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
