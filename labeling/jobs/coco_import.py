"""A COCO import's job: check the whole file, decode its bbox-only entries with SAM,
write it all or nothing (`services.imports.do_write_import`), record the outcome.

A mask given only as a bbox is decoded by SAM as a box prompt on its image (the
embedding is computed if it is not stored yet); where SAM finds nothing in the box,
the box itself is the mask, so no instance of the file is lost.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from inference.masks import rle_encode
from labeling import embedding_store
from labeling.coco_export import Progress
from labeling.coco_import import PlannedMask, plan_import
from labeling.file_cleanup import delete_files_on_commit
from labeling.jobs.progress import RowProgress, claim_queued
from labeling.models import CocoImport, Image, JobStatus, Project
from labeling.project_models import model_for
from labeling.services.imports import do_write_import

logger = logging.getLogger(__name__)


def _parse(stored: str) -> Any:
    with default_storage.open(stored, "rb") as source:
        raw = source.read(settings.ANYMASK_IMPORT_MAX_BYTES + 1)
    if len(raw) > settings.ANYMASK_IMPORT_MAX_BYTES:
        raise ValueError("the file is over the size limit")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:  # RecursionError: absurd nesting
        raise ValueError(f"the file is not JSON ({type(error).__name__})") from None


def _box_masks(
    project: Project, masks: list[PlannedMask], progress: Progress
) -> list[dict[str, Any]]:
    """SAM masks for the bbox-only entries, in their order."""
    boxed = [m for m in masks if m.rle is None]
    if not boxed:
        return []  # before the imports below: a file without boxes never loads torch
    from inference import Prompt

    model = model_for(project)
    by_image: dict[int, list[int]] = defaultdict(list)
    for index, mask in enumerate(boxed):
        by_image[mask.image_id].append(index)
    found: list[dict[str, Any] | None] = [None] * len(boxed)
    for count, (image_id, indexes) in enumerate(by_image.items(), start=1):
        image = Image.objects.get(pk=image_id)
        embedding = embedding_store.read_or_compute(model, image)
        for index in indexes:
            box = boxed[index].box
            assert box is not None
            [best] = model.decode(embedding, Prompt(box=list(box), multimask=False))
            if best.area:
                found[index] = best.rle
            else:  # SAM saw nothing there: keep what the file said, the box
                found[index] = box_rle(box, embedding.original_size)
        progress(count, len(by_image))
    return [rle for rle in found if rle is not None]


def box_rle(box: tuple[float, ...] | list[float], size: tuple[int, int]) -> dict[str, Any]:
    """The box itself as a mask: (x0, y0, x1, y1) rounded to pixels, at least one."""
    pixels = np.zeros(size, dtype=bool)
    x0, y0, x1, y1 = (round(v) for v in box)
    pixels[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)] = True
    return rle_encode(pixels)


def perform_import(import_id: int) -> str:
    """Run a queued import (the task's body); a duplicate delivery does nothing."""
    if not claim_queued(CocoImport, import_id):
        return "not queued"
    row = CocoImport.objects.select_related("project", "created_by").get(pk=import_id)
    outcome: dict[str, Any] = {}
    try:
        plan = plan_import(row.project, _parse(row.file), row.create_categories)
        if not plan.ok:
            errors = plan.errors + ([f"… and {plan.more_errors} more."] if plan.more_errors else [])
            outcome = {"status": JobStatus.FAILED, "errors": errors}
        else:
            progress = RowProgress(CocoImport, import_id)
            box_rles = _box_masks(row.project, plan.masks, progress)
            imported = do_write_import(row, plan, box_rles, progress)
            outcome = {
                "status": JobStatus.DONE,
                "imported": imported,
                "categories_created": len(plan.new_categories),
            }
    except ValueError as error:
        outcome = {"status": JobStatus.FAILED, "errors": [f"Nothing was imported: {error}."]}
    except Exception as error:
        logger.exception("import %s failed", import_id)
        outcome = {
            "status": JobStatus.FAILED,
            "errors": [f"Nothing was imported: {type(error).__name__}; try again."],
        }
    # The upload has served its purpose: the page shows the outcome, and a retry is a
    # new upload. Keeping every file would grow storage for good.
    CocoImport.objects.filter(pk=import_id).update(finished_at=timezone.now(), file="", **outcome)
    delete_files_on_commit([row.file])
    return str(outcome["status"])
