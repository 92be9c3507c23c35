"""COCO imports: upload (stored, queued), run (check all, then write all or nothing).

Masks become annotations with source "import" and status "submitted". A mask given
only as a bbox is decoded by SAM as a box prompt on its image (the embedding is
computed if it is not stored yet); where SAM finds nothing in the box, the box itself
is the mask, so no instance of the file is lost.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import IO, Any

import numpy as np
from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from labeling import embeddings
from labeling.coco_export import Progress
from labeling.coco_import import ImportPlan, PlannedMask, plan_import
from labeling.file_cleanup import delete_files_on_commit
from labeling.models import (
    AnnotationSource,
    AnnotationStatus,
    Category,
    CocoImport,
    ExportStatus,
    Image,
    Project,
)
from labeling.services.annotation_bulk import NewMask, do_create_annotations_bulk
from labeling.services.errors import ServiceError
from labeling.services.jobs import RowProgress, claim_queued

logger = logging.getLogger(__name__)


def do_start_import(
    project: Project, user: Any, upload: IO[bytes], name: str, create_categories: bool
) -> CocoImport:
    size = getattr(upload, "size", None)
    if size is not None and size > settings.ANYMASK_IMPORT_MAX_BYTES:
        raise ServiceError(
            f"The file is {size} bytes; at most {settings.ANYMASK_IMPORT_MAX_BYTES}.", field="file"
        )
    with transaction.atomic():
        row = CocoImport.objects.create(
            project=project,
            created_by=user,
            original_name=name[:255],
            create_categories=create_categories,
        )
        row.file = default_storage.save(f"imports/{project.pk}/{row.pk}.json", File(upload))
        row.save(update_fields=["file"])
        transaction.on_commit(lambda: _queue(row.pk))
    return row


def _queue(import_id: int) -> None:
    from labeling.tasks import run_import

    run_import.delay(import_id)


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
    from inference import Prompt, load_model
    from inference.masks import rle_encode

    spec = project.model_spec
    model = load_model(spec)
    by_image: dict[int, list[int]] = defaultdict(list)
    for index, mask in enumerate(boxed):
        by_image[mask.image_id].append(index)
    found: list[dict[str, Any] | None] = [None] * len(boxed)
    for count, (image_id, indexes) in enumerate(by_image.items(), start=1):
        image = Image.objects.get(pk=image_id)
        embedding = embeddings.load_or_compute(image, model, spec)
        for index in indexes:
            box = boxed[index].box
            assert box is not None
            pixels = model.decode(embedding, Prompt(box=list(box), multimask=False))[0].mask
            if not pixels.any():  # SAM saw nothing there: keep what the file said, the box
                pixels = np.zeros_like(pixels)
                x0, y0, x1, y1 = (round(v) for v in box)
                pixels[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)] = True
            found[index] = rle_encode(pixels)
        progress(count, len(by_image))
    return [rle for rle in found if rle is not None]


def _write(
    row: CocoImport, plan: ImportPlan, box_rles: list[dict[str, Any]], progress: Progress
) -> int:
    project = row.project
    with transaction.atomic():
        for order, name in enumerate(
            plan.new_categories, start=Category.objects.filter(project=project).count()
        ):
            Category.objects.create(project=project, name=name, order=order)
        ids = {c.name: c.pk for c in Category.objects.filter(project=project)}
        boxes = iter(box_rles)
        masks = [
            NewMask(
                image_id=mask.image_id,
                rle=mask.rle if mask.rle is not None else next(boxes),
                category_id=ids[mask.category],
            )
            for mask in plan.masks
        ]
        do_create_annotations_bulk(
            project.pk,
            masks,
            row.created_by,
            source=AnnotationSource.IMPORT,
            status=AnnotationStatus.SUBMITTED,
            progress=progress,
        )
    return len(masks)


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
            outcome = {"status": ExportStatus.FAILED, "errors": errors}
        else:
            progress = RowProgress(CocoImport, import_id)
            box_rles = _box_masks(row.project, plan.masks, progress)
            imported = _write(row, plan, box_rles, progress)
            outcome = {
                "status": ExportStatus.DONE,
                "imported": imported,
                "categories_created": len(plan.new_categories),
            }
    except ValueError as error:
        outcome = {"status": ExportStatus.FAILED, "errors": [f"Nothing was imported: {error}."]}
    except Exception as error:
        logger.exception("import %s failed", import_id)
        outcome = {
            "status": ExportStatus.FAILED,
            "errors": [f"Nothing was imported: {type(error).__name__}; try again."],
        }
    # The upload has served its purpose: the page shows the outcome, and a retry is a
    # new upload. Keeping every file would grow storage for good.
    CocoImport.objects.filter(pk=import_id).update(finished_at=timezone.now(), file="", **outcome)
    delete_files_on_commit([row.file])
    return str(outcome["status"])


def import_json(row: CocoImport) -> dict[str, Any]:
    return {
        "id": row.pk,
        "kind": "import",
        "status": row.status,
        "done": row.done,
        "total": row.total,
        "name": row.original_name,
        "created_at": row.created_at.isoformat(),
        "created_by": row.created_by.username if row.created_by else None,
        "imported": row.imported,
        "categories_created": row.categories_created,
        "errors": row.errors,
    }
