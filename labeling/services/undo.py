"""Undo as forward operations: revert one recorded change, or restore a deleted mask.

Nothing here rewrites the history. Reverting the change that made version V writes
version V+1 with the values from before that change (through `do_update_annotation`,
so it is checked against V like any edit, recorded with `reverts: V` and pushed
live). Redo is a revert of the revert. A restore brings a deleted mask back with its
own id, at the version after the one it was deleted at, from what its deletion's
history row kept: one mask keeps one id, so the page's "mask #3", the history and
every other undo step that names #3 stay true.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from labeling.models import (
    Annotation,
    AnnotationEvent,
    AnnotationStatus,
    HistoryAction,
    Image,
    LabelingStatus,
)
from labeling.permissions import Ability, abilities_to_revert
from labeling.services.annotations import (
    AnnotationNotFound,
    VersionConflict,
    annotation_json,
    check_category,
    do_update_annotation,
    record_change,
)
from labeling.services.errors import ServiceError

# Events that carry the whole mask (`rle`) as of their version.
_SHAPED = (HistoryAction.CREATED, HistoryAction.UPDATED, HistoryAction.RESTORED)


class RestoreConflict(ServiceError):
    """The mask was restored (and maybe deleted again) by someone else since."""


@dataclass(frozen=True)
class RevertPlan:
    """The change that made a version, and what undoing it needs."""

    event: AnnotationEvent
    needs: list[Ability]


def check_revert(image: Image, annotation_id: int, version: int) -> RevertPlan:
    """The change of mask `annotation_id` that made `version`, or `AnnotationNotFound`."""
    event = (
        AnnotationEvent.objects.filter(
            image=image,
            annotation_id=annotation_id,
            version=version,
            action=HistoryAction.UPDATED,
        )
        .order_by("-id")
        .first()
    )
    if event is None:
        raise AnnotationNotFound(
            f"Mask #{annotation_id} has no change that made version {version}."
        )
    return RevertPlan(event, abilities_to_revert(event.changes))


def _rle_before(image: Image, annotation_id: int, version: int) -> dict[str, Any]:
    """The mask's pixels as they were before `version`: the newest earlier event
    that recorded them."""
    events = AnnotationEvent.objects.filter(
        image=image, annotation_id=annotation_id, version__lt=version, action__in=_SHAPED
    ).order_by("-version", "-id")
    for changes in events.values_list("changes", flat=True).iterator():
        if isinstance(changes, dict) and "rle" in changes:
            return changes["rle"]
    raise ServiceError(
        f"The history of mask #{annotation_id} does not hold its earlier pixels; "
        "edit it back by hand."
    )


def do_revert_change(
    image: Image,
    annotation_id: int,
    user: User | None,
    *,
    expected_version: int,
    origin: str | None = None,
) -> Annotation:
    """Undo the change that made `expected_version`, which the mask must still be at
    (else `VersionConflict` with the current mask, as for any edit)."""
    changes = check_revert(image, annotation_id, expected_version).event.changes
    fields: dict[str, Any] = {}
    if "category" in changes:
        fields["category_id"] = changes["category"][0]
    if "status" in changes:
        fields["status"] = changes["status"][0]
    if "review_comment" in changes:
        fields["review_comment"] = changes["review_comment"][0]
    if "mask" in changes:
        fields["rle"] = _rle_before(image, annotation_id, expected_version)
    return do_update_annotation(
        image,
        annotation_id,
        user,
        expected_version=expected_version,
        reverts=expected_version,
        origin=origin,
        **fields,
    )


def deleted_mask_image(project_id: int, annotation_id: int) -> Image:
    """The image of a (deleted) mask of this project, from its history; the API finds
    it this way, since the mask's row is gone. `AnnotationNotFound` if none."""
    event = (
        AnnotationEvent.objects.filter(image__project_id=project_id, annotation_id=annotation_id)
        .select_related("image")
        .first()
    )
    if event is None:
        raise AnnotationNotFound("No such mask in this project.")
    return event.image


def _current_row(annotation_id: int) -> Annotation:
    return Annotation.objects.select_related("created_by", "updated_by").get(pk=annotation_id)


@transaction.atomic
def do_restore_annotation(
    image: Image,
    annotation_id: int,
    user: User | None,
    *,
    expected_version: int,
    origin: str | None = None,
) -> Annotation:
    """Undo the delete of mask `annotation_id`, deleted at `expected_version`."""
    if Annotation.objects.filter(pk=annotation_id).exists():
        raise VersionConflict(_current_row(annotation_id))
    last = (
        AnnotationEvent.objects.filter(image=image, annotation_id=annotation_id)
        .select_related("actor")
        .order_by("-id")
        .first()
    )
    if last is None or last.action != HistoryAction.DELETED:
        raise AnnotationNotFound(f"Mask #{annotation_id} was not deleted from this image.")
    if last.version != expected_version:
        who = last.actor.username if last.actor else "someone else"
        raise RestoreConflict(
            f"Mask #{annotation_id} was restored and deleted again by {who} since; "
            "nothing was restored."
        )
    kept = last.changes.get("kept")
    if not isinstance(kept, dict):
        raise ServiceError(f"Mask #{annotation_id} was deleted before deletes could be undone.")
    category = check_category(image, last.changes.get("category", [None])[0])
    try:
        with transaction.atomic():  # a concurrent restore of the same id loses cleanly
            Annotation.objects.create(
                pk=annotation_id,
                image=image,
                category=category,
                rle=kept["rle"],
                bbox=last.changes["mask"]["bbox"],
                area=last.changes["mask"]["area"],
                status=kept["status"],
                source=kept["source"],
                score=kept["score"],
                created_by_id=kept["created_by"],
                updated_by=user,
                version=expected_version + 1,
                clicks=kept["clicks"],
                edit_seconds=kept["edit_seconds"],
                review_comment=kept["review_comment"],
            )
    except IntegrityError:
        if Annotation.objects.filter(pk=annotation_id).exists():
            raise VersionConflict(_current_row(annotation_id)) from None
        raise
    # Its age is the mask's own, not the restore's (the dashboard counts by it).
    Annotation.objects.filter(pk=annotation_id).update(
        created_at=datetime.fromisoformat(kept["created_at"])
    )
    restored = _current_row(annotation_id)
    if restored.status != AnnotationStatus.PROPOSED:
        Image.objects.filter(pk=image.pk, labeling_status=LabelingStatus.UNLABELED).update(
            labeling_status=LabelingStatus.IN_PROGRESS
        )
    record_change(
        image,
        HistoryAction.RESTORED,
        annotation_id,
        user,
        restored.version,
        {
            "category": [None, restored.category_id],
            "status": [None, restored.status],
            "mask": {"area": restored.area, "bbox": restored.bbox},
            "rle": restored.rle,
            "restores": expected_version,
        },
        # Pages add it back as they add any new mask.
        {"type": "annotation.created", "annotation": annotation_json(restored)},
        origin,
    )
    return restored
