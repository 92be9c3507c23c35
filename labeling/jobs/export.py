"""A COCO export's job: write the file, store it, record the outcome on its row.

The row's life is queued -> running -> done | failed. The file is written to a
temporary file first and only then saved to storage, so a failed export never
leaves a half-written file behind, and a download is always a whole one.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile

from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from labeling.coco_export import write_coco, write_zip
from labeling.jobs.progress import RowProgress, claim_queued
from labeling.models import Export, JobStatus
from labeling.services.exports import download_name, options_of

logger = logging.getLogger(__name__)


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
        finished_rows = Export.objects.filter(pk=export_id, status=JobStatus.RUNNING).update(
            status=JobStatus.DONE,
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
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            error=f"The export failed: {type(error).__name__}. Nothing was saved; try again.",
        )
        return "failed"
    finally:
        shutil.rmtree(work, ignore_errors=True)
