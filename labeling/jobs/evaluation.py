"""The evaluator's job: play the standard protocol against a project's masks with
one model, and store the figures on the run's row.

Objects are simulated image by image, all of one image's objects together
(`inference.evaluation.simulate_image`), on the image's stored embedding: the
encoder never runs for an image already embedded, and every version of a project
shares the base model's embeddings. A cancel takes effect between images.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from django.utils import timezone

from inference.evaluation.metrics import instance_figures, iou_at
from inference.masks import rle_decode
from labeling import embedding_store
from labeling.evaluation_models import EvaluationMasks, EvaluationRun, EvaluationSplit
from labeling.holdout import is_holdout_ids
from labeling.jobs.progress import RowProgress, claim_queued
from labeling.models import Annotation, AnnotationStatus, Image, JobStatus

if TYPE_CHECKING:
    from inference import SegmentationModel

logger = logging.getLogger(__name__)

WORST_KEPT = 20
UNCATEGORIZED = "(none)"


class NothingToEvaluate(Exception):
    """No mask matches the run's options."""


def candidates(run: EvaluationRun) -> QuerySet[Annotation]:
    """The masks of the run's kind in its project, non-empty, by id (any split)."""
    found = Annotation.objects.filter(image__project=run.project, area__gt=0)
    if run.masks == EvaluationMasks.GROUND_TRUTH:
        found = found.filter(ground_truth=True)
    else:
        statuses = [AnnotationStatus.APPROVED]
        if run.masks == EvaluationMasks.SUBMITTED:
            statuses.append(AnnotationStatus.SUBMITTED)
        # An imported ground-truth set is judged apart, never mixed into the labels.
        found = found.filter(status__in=statuses, ground_truth=False)
    return found.order_by("pk")


def instances(run: EvaluationRun) -> list[tuple[int, int, Any, str | None]]:
    """The run's ground-truth masks as (annotation id, image id, rle, category
    name), by id: its kind, on its split, at most `limit`.

    The split is applied here, row by row, rather than as an `IN` list of held-out
    image ids, which would outgrow SQLite's bound on query parameters in a large
    project.
    """
    rows = candidates(run).values_list("pk", "image_id", "rle", "category__name")
    found: list[tuple[int, int, Any, str | None]] = []
    for pk, image_id, rle, category in rows.iterator(chunk_size=500):
        if run.split == EvaluationSplit.HOLDOUT and not is_holdout_ids(run.project_id, image_id):
            continue
        found.append((pk, image_id, rle, category))
        if run.limit and len(found) >= run.limit:
            break
    return found


def model_of(run: EvaluationRun) -> SegmentationModel:
    """The model the run evaluates: a version on its base, or the base spec itself."""
    if run.version is not None:
        from labeling.project_models import model_for

        return model_for(run.project, run.version)
    from inference import load_model

    return load_model(run.spec)


def clicks_made(curve: Sequence[float], max_clicks: int) -> int:
    """Clicks actually simulated: a curve that reached an exact mask stopped there
    (the rest of its values repeat the 1.0)."""
    if curve and curve[-1] == 1.0:
        return curve.index(1.0) + 1
    return max_clicks


def figures(run: EvaluationRun, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's stored results from each instance's curve (rows: annotation,
    image, category, curve)."""
    from inference.evaluation import summarize

    curves = [row["curve"] for row in rows]
    metrics = summarize(curves, run.max_clicks)
    metrics["mean_iou_per_click"] = [
        round(sum(iou_at(c, k) for c in curves) / len(curves), 4) if curves else None
        for k in range(1, run.max_clicks + 1)
    ]
    by_category: dict[str, list[list[float]]] = defaultdict(list)
    for row in rows:
        by_category[row["category"]].append(row["curve"])
    per_category = {name: summarize(c, run.max_clicks) for name, c in sorted(by_category.items())}
    scored = []
    for row in rows:
        figs = instance_figures(row["curve"], run.max_clicks)
        scored.append(
            {
                "annotation": row["annotation"],
                "image": row["image"],
                "category": row["category"],
                "noc90": figs["noc90"],
                "iou5": round(figs["iou5"], 4),
            }
        )
    # Worst first: the most clicks to 90%, then the lowest IoU after 5 clicks.
    scored.sort(key=lambda r: (-r["noc90"], r["iou5"], r["annotation"]))
    return {"metrics": metrics, "per_category": per_category, "worst": scored[:WORST_KEPT]}


def perform_evaluation(run_id: int) -> str:
    """Run a queued evaluation (the task's body); a duplicate delivery does nothing."""
    if not claim_queued(EvaluationRun, run_id):
        return "not queued"
    run = EvaluationRun.objects.select_related("project", "version").get(pk=run_id)
    running = EvaluationRun.objects.filter(pk=run_id, status=JobStatus.RUNNING)
    progress = RowProgress(EvaluationRun, run_id)
    try:
        from inference.evaluation import simulate_image

        masks = instances(run)
        total = len(masks)
        if not total:
            raise NothingToEvaluate(
                f"No {run.get_masks_display().lower()} on "
                f"{run.get_split_display().lower()}: nothing to evaluate."
                + (" Try all images." if run.split == EvaluationSplit.HOLDOUT else "")
            )
        EvaluationRun.objects.filter(pk=run_id).update(total=total)
        # image id -> its masks as (annotation id, rle, category name)
        by_image: dict[int, list[tuple[int, Any, str | None]]] = defaultdict(list)
        for pk, image_id, rle, category in masks:
            by_image[image_id].append((pk, rle, category))
        model = model_of(run)
        rows: list[dict[str, Any]] = []
        started, clicks = time.perf_counter(), 0
        images = Image.objects.in_bulk(list(by_image))
        for image_id, image_masks in by_image.items():
            if not running.exists():
                return "canceled"
            embedding = embedding_store.read_or_compute(model, images[image_id])
            gts = [rle_decode(mask[1]) for mask in image_masks]
            curves = simulate_image(model, embedding, gts, run.max_clicks)
            for (pk, _rle, name), curve in zip(image_masks, curves, strict=True):
                clicks += clicks_made(curve, run.max_clicks)
                rows.append(
                    {
                        "annotation": pk,
                        "image": image_id,
                        "category": name or UNCATEGORIZED,
                        "curve": [round(v, 5) for v in curve],
                    }
                )
            progress(len(rows), total)
        elapsed = time.perf_counter() - started
        results = figures(run, rows)
    except NothingToEvaluate as empty:
        running.update(status=JobStatus.FAILED, finished_at=timezone.now(), error=str(empty))
        return "failed"
    except Exception as error:
        logger.exception("evaluation %s failed", run_id)
        running.update(
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            error=f"Stopped: {type(error).__name__}: {str(error)[:300]}",
        )
        return "failed"
    # Conditional: a cancel that came during the last image stands.
    finished = running.update(
        status=JobStatus.DONE,
        finished_at=timezone.now(),
        done=total,
        clicks_per_second=round(clicks / elapsed, 2) if clicks and elapsed > 0 else None,
        **results,
    )
    return "done" if finished else "canceled"
