"""COCO imports: upload one (stored, queued), write a checked plan, describe one.

The job (`labeling.jobs.coco_import`) checks the whole file into a plan, decodes
the bbox-only entries with SAM, and hands the result to `do_write_import`, which
writes it all or nothing. Masks become annotations with source "import" and status
"submitted".
"""

from __future__ import annotations

from typing import IO, Any

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction

from labeling.coco_export import Progress
from labeling.coco_import import ImportPlan
from labeling.models import AnnotationSource, AnnotationStatus, Category, CocoImport, Project
from labeling.queueing import RUN_IMPORT, enqueue_on_commit
from labeling.services.annotation_bulk import NewMask, do_create_annotations_bulk
from labeling.services.errors import ServiceError


def do_start_import(
    project: Project,
    user: Any,
    upload: IO[bytes],
    name: str,
    create_categories: bool,
    ground_truth: bool = False,
) -> CocoImport:
    """Store an uploaded COCO file and queue its import. `ground_truth`: the file is
    a ground-truth set (GrabCut, Berkeley, DAVIS or a team's own): its masks come in
    approved and marked `ground_truth`, for the evaluator, apart from the labels."""
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
            ground_truth=ground_truth,
        )
        row.file = default_storage.save(f"imports/{project.pk}/{row.pk}.json", File(upload))
        row.save(update_fields=["file"])
        enqueue_on_commit(RUN_IMPORT, row.pk)
    return row


def do_write_import(
    row: CocoImport, plan: ImportPlan, box_rles: list[dict[str, Any]], progress: Progress
) -> int:
    """Write a checked plan in one transaction: its new categories, then every mask
    (bbox-only entries take `box_rles`, in order) with its history. Returns the count."""
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
            # A ground-truth set is checked truth already: nothing to review.
            status=AnnotationStatus.APPROVED if row.ground_truth else AnnotationStatus.SUBMITTED,
            progress=progress,
            ground_truth=row.ground_truth,
        )
    return len(masks)


def import_json(row: CocoImport) -> dict[str, Any]:
    return {
        **row.progress_json(),
        **row.origin_json(),
        "kind": "import",
        "name": row.original_name,
        "imported": row.imported,
        "categories_created": row.categories_created,
        "ground_truth": row.ground_truth,
        "errors": row.errors,
    }
