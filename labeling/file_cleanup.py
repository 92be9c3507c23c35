"""Remove an image's files once the deletion of its row has committed.

Deleting through a project, the admin, or a queryset all end here, so no file is
orphaned; waiting for the commit means a rolled-back delete keeps its files.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction

from labeling.models import Image

logger = logging.getLogger(__name__)


def _delete_names(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:  # pragma: no cover - logged, retried by nobody
            logger.exception("could not delete %s", name)


def delete_image_files(sender: type[Image], instance: Image, **kwargs: Any) -> None:
    names = [f.name for f in (instance.file, instance.thumbnail) if f and f.name]
    transaction.on_commit(partial(_delete_names, names), robust=True)
