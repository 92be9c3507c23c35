"""Create, change and delete masks, each change recorded in the append-only history.

Writes use optimistic concurrency: the caller names the version it read, and the
write is a conditional UPDATE that matches only that version. A stale version gets
`VersionConflict` carrying the current row, so nobody silently overwrites anyone.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F

from inference.masks import MaskFormatError, rle_area, rle_bbox, rle_decode, rle_encode
from labeling.models import (
    Annotation,
    AnnotationEvent,
    AnnotationStatus,
    Category,
    HistoryAction,
    Image,
    LabelingStatus,
)
from labeling.services.errors import ServiceError


class VersionConflict(ServiceError):
    def __init__(self, current: Annotation) -> None:
        super().__init__(
            f"Someone else changed this mask (now version {current.version}). "
            "Your view has been refreshed; re-apply your change if it still makes sense."
        )
        self.current = current


_UNSET: Any = object()


def check_rle(image: Image, rle: object) -> dict[str, Any]:
    """A valid COCO RLE the size of the image, returned in compressed form."""
    try:
        mask = rle_decode(rle)  # type: ignore[arg-type]
    except MaskFormatError as exc:
        raise ServiceError(f"The mask is not valid COCO RLE: {exc}", field="rle") from None
    if mask.shape != (image.height, image.width):
        raise ServiceError(
            f"The mask is {mask.shape[1]}×{mask.shape[0]} but the image is "
            f"{image.width}×{image.height}.",
            field="rle",
        )
    if not mask.any():
        raise ServiceError("The mask is empty.", field="rle")
    return rle_encode(mask)


def check_category(image: Image, category_id: int | None) -> Category | None:
    if category_id is None:
        return None
    category = Category.objects.filter(project_id=image.project_id, pk=category_id).first()
    if category is None:
        raise ServiceError("No such category in this project.", field="category")
    return category


def _mask_summary(rle: dict[str, Any]) -> dict[str, Any]:
    return {"area": rle_area(rle), "bbox": rle_bbox(rle)}


@transaction.atomic
def do_create_annotation(
    image: Image,
    user: User | None,
    *,
    rle: object,
    source: str,
    category_id: int | None = None,
    status: str = AnnotationStatus.DRAFT,
    score: float | None = None,
) -> Annotation:
    clean = check_rle(image, rle)
    category = check_category(image, category_id)
    summary = _mask_summary(clean)
    annotation = Annotation.objects.create(
        image=image,
        category=category,
        rle=clean,
        bbox=summary["bbox"],
        area=summary["area"],
        status=status,
        source=source,
        score=score,
        created_by=user,
        updated_by=user,
    )
    AnnotationEvent.objects.create(
        image=image,
        annotation_id=annotation.pk,
        actor=user,
        action=HistoryAction.CREATED,
        version=annotation.version,
        changes={
            "category": [None, category_id],
            "status": [None, status],
            "source": source,
            "mask": summary,
            "rle": clean,
        },
    )
    if status != AnnotationStatus.PROPOSED:  # machine proposals are not human work
        Image.objects.filter(pk=image.pk, labeling_status=LabelingStatus.UNLABELED).update(
            labeling_status=LabelingStatus.IN_PROGRESS
        )
    return annotation


def _current(image: Image, annotation_id: int) -> Annotation:
    annotation = Annotation.objects.filter(image=image, pk=annotation_id).first()
    if annotation is None:
        raise ServiceError("This mask no longer exists; it may have been deleted.")
    return annotation


@transaction.atomic
def do_update_annotation(
    image: Image,
    annotation_id: int,
    user: User | None,
    *,
    expected_version: int,
    rle: object = _UNSET,
    category_id: int | None = _UNSET,
    status: str = _UNSET,
) -> Annotation:
    before = _current(image, annotation_id)
    fields: dict[str, Any] = {}
    changes: dict[str, Any] = {}
    if rle is not _UNSET:
        clean = check_rle(image, rle)
        summary = _mask_summary(clean)
        fields.update(rle=clean, bbox=summary["bbox"], area=summary["area"])
        changes["mask"] = {
            "area": [before.area, summary["area"]],
            "bbox": [before.bbox, summary["bbox"]],
        }
        changes["rle"] = clean
    if category_id is not _UNSET:
        fields["category"] = check_category(image, category_id)
        changes["category"] = [before.category_id, category_id]
    if status is not _UNSET:
        if status not in AnnotationStatus.values:
            raise ServiceError(f"Unknown status {status!r}.", field="status")
        fields["status"] = status
        changes["status"] = [before.status, status]
    if not fields:
        raise ServiceError("Nothing to change.")
    # The conditional UPDATE is the concurrency check: it matches only the version the
    # caller read, so of two concurrent writers exactly one wins.
    matched = Annotation.objects.filter(pk=annotation_id, version=expected_version).update(
        **fields, updated_by=user, version=F("version") + 1
    )
    if not matched:
        raise VersionConflict(_current(image, annotation_id))
    after = Annotation.objects.get(pk=annotation_id)
    AnnotationEvent.objects.create(
        image=image,
        annotation_id=annotation_id,
        actor=user,
        action=HistoryAction.UPDATED,
        version=after.version,
        changes=changes,
    )
    return after


@transaction.atomic
def do_delete_annotation(
    image: Image, annotation_id: int, user: User | None, *, expected_version: int
) -> None:
    before = _current(image, annotation_id)
    deleted, _ = Annotation.objects.filter(pk=annotation_id, version=expected_version).delete()
    if not deleted:
        raise VersionConflict(_current(image, annotation_id))
    AnnotationEvent.objects.create(
        image=image,
        annotation_id=annotation_id,
        actor=user,
        action=HistoryAction.DELETED,
        version=before.version,
        changes={"category": [before.category_id, None], "mask": _mask_summary(before.rle)},
    )
