"""COCO exports: start one (validated, queued on commit), run it, describe it.

The work itself is `labeling.coco_export`; this module owns the Export row's life:
queued -> running -> done | failed. The file is written to a temporary file first
and only then saved to storage, so a failed export never leaves a half-written
file behind, and a download is always a whole one.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from labeling.coco_export import ExportOptions, write_coco, write_zip
from labeling.models import AnnotationStatus, Export, ExportStatus, Project, SegmentationFormat
from labeling.services.errors import ServiceError
from labeling.services.jobs import RowProgress, claim_queued

logger = logging.getLogger(__name__)

DEFAULT_STATUSES = (AnnotationStatus.APPROVED,)


def check_export_options(
    statuses: Any, segmentation: Any, include_empty: Any, with_images: Any
) -> ExportOptions:
    if not isinstance(statuses, list | tuple) or not statuses:
        raise ServiceError("Pick at least one status to export.", field="statuses")
    unknown = [s for s in statuses if s not in AnnotationStatus.values]
    if unknown:
        raise ServiceError(f"Unknown status {str(unknown[0])[:40]!r}.", field="statuses")
    if segmentation not in SegmentationFormat.values:
        raise ServiceError("Segmentation must be RLE or polygons.", field="segmentation")
    for name, value in (("include_empty", include_empty), ("with_images", with_images)):
        if not isinstance(value, bool):
            raise ServiceError(f"{name} must be true or false.", field=name)
    ordered = tuple(s for s in AnnotationStatus.values if s in statuses)
    return ExportOptions(ordered, segmentation, include_empty, with_images)


def do_start_export(project: Project, user: Any, options: ExportOptions) -> Export:
    """Create the export's row and queue its job once the row is committed."""
    from labeling.tasks import run_export

    with transaction.atomic():
        export = Export.objects.create(
            project=project,
            created_by=user,
            statuses=list(options.statuses),
            segmentation=options.segmentation,
            include_empty=options.include_empty,
            with_images=options.with_images,
        )
        transaction.on_commit(lambda: run_export.delay(export.pk))
    return export


def options_of(export: Export) -> ExportOptions:
    return ExportOptions(
        tuple(export.statuses), export.segmentation, export.include_empty, export.with_images
    )


def download_name(export: Export) -> str:
    base = slugify(export.project.name) or "project"
    return f"{base}-coco-{export.pk}.{'zip' if export.with_images else 'json'}"


def perform_export(export_id: int) -> str:
    """Run a queued export (the task's body). Idempotent: a duplicate delivery finds
    the row no longer queued and does nothing."""
    if not claim_queued(Export, export_id):
        return "not queued"
    export = Export.objects.select_related("project").get(pk=export_id)
    work = tempfile.mkdtemp(prefix="anymask-export-")
    try:
        options = options_of(export)
        json_path = os.path.join(work, "annotations.json")
        with open(json_path, "w", encoding="utf-8") as out:
            counts, files = write_coco(export.project, options, out, RowProgress(Export, export_id))
        result = json_path
        if options.with_images:
            result = os.path.join(work, "export.zip")
            already = counts.images + counts.annotations
            with open(result, "wb") as target:
                write_zip(json_path, files, target, RowProgress(Export, export_id, offset=already))
        name = f"exports/{export.project_id}/{export.pk}/{download_name(export)}"
        with open(result, "rb") as finished:
            stored = default_storage.save(name, File(finished))
        # Conditional: an export deleted while it ran (alone, or with its project)
        # matches nothing, and its file must not outlive it.
        finished_rows = Export.objects.filter(pk=export_id, status=ExportStatus.RUNNING).update(
            status=ExportStatus.DONE,
            finished_at=timezone.now(),
            file=stored,
            byte_size=os.path.getsize(result),
            image_count=counts.images,
            annotation_count=counts.annotations,
            skipped_uncategorized=counts.skipped_uncategorized,
        )
        if not finished_rows:
            default_storage.delete(stored)
            return "deleted"
        return "done"
    except Exception as error:
        logger.exception("export %s failed", export_id)
        Export.objects.filter(pk=export_id).update(
            status=ExportStatus.FAILED,
            finished_at=timezone.now(),
            error=f"The export failed: {type(error).__name__}. Nothing was saved; try again.",
        )
        return "failed"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def do_delete_export(project: Project, export_id: int) -> None:
    """Delete an export; its file goes after the commit (`file_cleanup`). One that is
    running may go too (a worker that died leaves one "running" for good): its worker
    finds the row gone when it finishes and deletes the file it saved."""
    with transaction.atomic():
        # Locked, so a worker's final update waits for this delete and then matches
        # nothing, instead of landing between reading the row and deleting it.
        export = Export.objects.select_for_update().filter(pk=export_id, project=project).first()
        if export is None:
            raise ServiceError("No such export in this project.")
        export.delete()


def export_json(export: Export) -> dict[str, Any]:
    """What the exports page shows (and polls) for one export."""
    return {
        "id": export.pk,
        "status": export.status,
        "done": export.done,
        "total": export.total,
        "created_at": export.created_at.isoformat(),
        "created_by": export.created_by.username if export.created_by else None,
        "statuses": export.statuses,
        "segmentation": export.segmentation,
        "include_empty": export.include_empty,
        "with_images": export.with_images,
        "images": export.image_count,
        "annotations": export.annotation_count,
        "skipped_uncategorized": export.skipped_uncategorized,
        "byte_size": export.byte_size,
        "error": export.error,
        "download": export.status == ExportStatus.DONE,
    }
