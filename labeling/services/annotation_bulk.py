"""Many annotations at once (a COCO import): the rows, their history, one push per image.

`do_create_annotation` is the path for one mask: it checks the mask, writes its row
and history entry, moves the image to "in progress" and pushes the new mask, about
a dozen round trips each. A 100,000-mask import that way is 100,000 of each, and
100,000 pushes to every open labeling page. Here the rows and history are inserted
in batches, each image's status moves once, and the pages open on each image get
one push listing its new masks (up to PUSH_MASKS a push). The caller has checked the
masks: `coco_import.plan_import` returns every RLE compressed, non-empty and at its
image's size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from inference.masks import rle_area_bbox
from labeling.events import publish_to_images
from labeling.models import Annotation, AnnotationEvent, Image, LabelingStatus
from labeling.services.annotations import annotation_json, created_event

BATCH = 1000  # rows per INSERT: well under SQLite's and PostgreSQL's parameter limits
PUSH_MASKS = 100  # masks per push, so no message grows with the image's mask count


@dataclass(frozen=True)
class NewMask:
    image_id: int
    rle: dict[str, Any]  # checked: compressed, non-empty, at the image's size
    category_id: int | None


def do_create_annotations_bulk(
    project_id: int,
    masks: Sequence[NewMask],
    user: User | None,
    *,
    source: str,
    status: str,
    progress: Callable[[int, int], None] | None = None,
    ground_truth: bool = False,
) -> list[Annotation]:
    """Insert every mask (on images of this project) with its "created" history
    entry, in one transaction; the pushes go out after the commit, so nobody sees
    masks of a rolled-back import."""
    created: list[Annotation] = []
    with transaction.atomic():
        for start in range(0, len(masks), BATCH):
            batch = [
                _row(mask, user, source, status, ground_truth)
                for mask in masks[start : start + BATCH]
            ]
            rows = Annotation.objects.bulk_create(batch)  # both backends return the ids
            AnnotationEvent.objects.bulk_create([created_event(row, user) for row in rows])
            created.extend(rows)
            if progress is not None:
                progress(len(created), len(masks))
        image_ids = sorted({mask.image_id for mask in masks})
        for start in range(0, len(image_ids), BATCH):
            Image.objects.filter(
                pk__in=image_ids[start : start + BATCH],
                labeling_status=LabelingStatus.UNLABELED,
            ).update(labeling_status=LabelingStatus.IN_PROGRESS)
        pushes = _pushes(created, user)
        transaction.on_commit(lambda: publish_to_images(project_id, pushes))
    return created


def _row(
    mask: NewMask, user: User | None, source: str, status: str, ground_truth: bool = False
) -> Annotation:
    area, bbox = rle_area_bbox(mask.rle)
    return Annotation(
        image_id=mask.image_id,
        category_id=mask.category_id,
        rle=mask.rle,
        bbox=bbox,
        area=area,
        status=status,
        source=source,
        created_by=user,
        updated_by=user,
        ground_truth=ground_truth,
    )


def _pushes(rows: list[Annotation], user: User | None) -> list[dict[str, Any]]:
    by_image: dict[int, list[Annotation]] = defaultdict(list)
    for row in rows:
        by_image[row.image_id].append(row)
    by = user.username if user is not None else None
    pushes = []
    for image_id, image_rows in by_image.items():
        for start in range(0, len(image_rows), PUSH_MASKS):
            chunk = image_rows[start : start + PUSH_MASKS]
            pushes.append(
                {
                    "type": "annotation.imported",
                    "image": image_id,
                    "annotations": [annotation_json(row) for row in chunk],
                    "by": by,
                    "origin": None,
                }
            )
    return pushes
