"""COCO exports: start one (validated, queued on commit), delete one, describe it.

The job that writes the file is `labeling.jobs.export` (over `labeling.coco_export`).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.text import slugify

from labeling.coco_export import ExportOptions
from labeling.models import AnnotationStatus, Export, JobStatus, Project, SegmentationFormat
from labeling.queueing import RUN_EXPORT, enqueue_on_commit
from labeling.services.errors import ServiceError

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
    with transaction.atomic():
        export = Export.objects.create(
            project=project,
            created_by=user,
            statuses=list(options.statuses),
            segmentation=options.segmentation,
            include_empty=options.include_empty,
            with_images=options.with_images,
        )
        enqueue_on_commit(RUN_EXPORT, export.pk)
    return export


def options_of(export: Export) -> ExportOptions:
    return ExportOptions(
        tuple(export.statuses), export.segmentation, export.include_empty, export.with_images
    )


def download_name(export: Export) -> str:
    base = slugify(export.project.name) or "project"
    return f"{base}-coco-{export.pk}.{'zip' if export.with_images else 'json'}"


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
        **export.progress_json(),
        **export.origin_json(),
        "statuses": export.statuses,
        "segmentation": export.segmentation,
        "include_empty": export.include_empty,
        "with_images": export.with_images,
        "images": export.image_count,
        "annotations": export.annotation_count,
        "skipped_uncategorized": export.skipped_uncategorized,
        "byte_size": export.byte_size,
        "error": export.error,
        "download": export.status == JobStatus.DONE,
    }
