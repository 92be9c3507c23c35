"""Remove stored files once the change that let go of them has committed.

An image's, an export's or an import's files go when its row is deleted: through a
project, the admin or a queryset, all end here, so no file is orphaned. Waiting for
the commit means a rolled-back delete keeps its files. A finished import's spent
upload goes the same way (`delete_files_on_commit`).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction

from labeling.models import CocoImport, Export, Image

logger = logging.getLogger(__name__)


def _delete_names(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:  # pragma: no cover - logged, retried by nobody
            logger.exception("could not delete %s", name)


def delete_files_on_commit(names: list[str | None]) -> None:
    """Delete these storage names after the current transaction commits (at once
    outside one); a failed delete is logged and never undoes the change."""
    kept = [name for name in names if name]
    if not kept:
        return

    # A named function, not a functools.partial: Django logs a failed robust hook by
    # its __qualname__, which a partial lacks, and the AttributeError would escape.
    def delete_after_commit() -> None:
        _delete_names(kept)

    transaction.on_commit(delete_after_commit, robust=True)


def delete_image_files(sender: type[Image], instance: Image, **kwargs: Any) -> None:
    delete_files_on_commit([f.name for f in (instance.file, instance.thumbnail) if f])


def delete_job_file(
    sender: type[Export | CocoImport], instance: Export | CocoImport, **_: Any
) -> None:
    delete_files_on_commit([instance.file])
