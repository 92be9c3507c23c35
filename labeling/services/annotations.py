"""Create, change and delete masks, each change recorded in the append-only history.

Writes use optimistic concurrency: the caller names the version it read, and the
write is a conditional UPDATE that matches only that version. A stale version gets
`VersionConflict` carrying the current row, so nobody silently overwrites anyone.

Every change is pushed to the project's channel group once it commits
(`annotation.created` / `.updated` / `.deleted`), so every open labeling page sees it.
`origin` names the websocket that made the change, which has its own reply.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Coalesce

from inference import EncodedMask
from inference.masks import (
    MaskFormatError,
    polygons_to_mask,
    rle_bbox,
    rle_encode,
    rle_normalize,
)
from labeling.events import publish_annotation_on_commit
from labeling.models import (
    REVIEW_COMMENT_MAX,
    Annotation,
    AnnotationEvent,
    AnnotationStatus,
    Category,
    HistoryAction,
    Image,
    LabelingStatus,
)
from labeling.services.classifier import retrain_when_committed
from labeling.services.errors import ServiceError


class VersionConflict(ServiceError):
    def __init__(self, current: Annotation) -> None:
        super().__init__(
            f"Someone else changed this mask (now version {current.version}). "
            "Your view has been refreshed; re-apply your change if it still makes sense."
        )
        self.current = current


class AnnotationNotFound(ServiceError):
    """No such annotation on this image (deleted meanwhile, or never there)."""


_UNSET: Any = object()


def check_rle(image: Image, rle: object) -> EncodedMask:
    """A valid, non-empty mask the size of the image, as canonical compressed RLE with
    its area and bbox. An `EncodedMask` comes from the engine, already canonical: only
    its size is checked. Anything else (a client's RLE, either form) is parsed and
    reduced to its fewest runs without drawing it."""
    if isinstance(rle, EncodedMask):
        clean = rle
    else:
        try:
            canonical, area = rle_normalize(rle)
        except MaskFormatError as exc:
            raise ServiceError(f"The mask is not valid COCO RLE: {exc}", field="rle") from None
        clean = EncodedMask(canonical, area, rle_bbox(canonical))
    height, width = clean.size
    if (height, width) != (image.height, image.width):
        raise ServiceError(
            f"The mask is {width}×{height} but the image is {image.width}×{image.height}.",
            field="rle",
        )
    if not clean.area:
        raise ServiceError("The mask is empty (0 pixels): there is nothing to save.", field="rle")
    return clean


def polygons_rle(image: Image, polygons: object) -> dict[str, Any]:
    """COCO polygons (holes as even-odd rings) drawn on the image, as compressed RLE."""
    try:
        mask = polygons_to_mask(polygons, image.height, image.width)  # type: ignore[arg-type]
    except MaskFormatError as exc:
        raise ServiceError(f"The polygons are not valid: {exc}", field="polygons") from None
    return rle_encode(mask)


def check_category(image: Image, category_id: int | None) -> Category | None:
    if category_id is None:
        return None
    category = Category.objects.filter(project_id=image.project_id, pk=category_id).first()
    if category is None:
        raise ServiceError("No such category in this project.", field="category")
    return category


def created_event(annotation: Annotation, user: User | None) -> AnnotationEvent:
    """The (unsaved) History record of a new mask; imports insert them in bulk."""
    changes: dict[str, Any] = {
        "category": [None, annotation.category_id],
        "status": [None, annotation.status],
        "source": annotation.source,
        "mask": {"area": annotation.area, "bbox": annotation.bbox},
        "rle": annotation.rle,
    }
    if annotation.category_confidence is not None:
        # A pre-filled category was the classifier's guess: the record says how sure.
        changes["category_confidence"] = annotation.category_confidence
    return AnnotationEvent(
        image_id=annotation.image_id,
        annotation_id=annotation.pk,
        actor=user,
        action=HistoryAction.CREATED,
        version=annotation.version,
        changes=changes,
    )


def _username(user: User | None) -> str | None:
    return user.username if user is not None else None


def annotation_json(annotation: Annotation) -> dict[str, Any]:
    """A mask as every transport shows it: the socket's ANNOTATION object
    (docs/protocol.md) and the API's `AnnotationOut`; users as usernames.

    Select `created_by` and `updated_by` with the row to avoid two queries each.
    """
    return {
        "id": annotation.pk,
        "image": annotation.image_id,
        "category": annotation.category_id,
        "rle": annotation.rle,
        "bbox": annotation.bbox,
        "area": annotation.area,
        "status": annotation.status,
        "source": annotation.source,
        "score": annotation.score,
        "category_confidence": annotation.category_confidence,
        "version": annotation.version,
        "review_comment": annotation.review_comment,
        "created_by": _username(annotation.created_by),
        "updated_by": _username(annotation.updated_by),
        "created_at": annotation.created_at.isoformat(),
        "updated_at": annotation.updated_at.isoformat(),
    }


def image_annotations(image: Image) -> list[dict[str, Any]]:
    rows = Annotation.objects.filter(image=image).select_related("created_by", "updated_by")
    return [annotation_json(row) for row in rows]


def find_accepted(image: Image, client_key: uuid.UUID) -> Annotation | None:
    """The annotation an earlier accept with this idempotency key created, if any."""
    return (
        Annotation.objects.filter(image=image, client_key=client_key)
        .select_related("created_by", "updated_by")
        .first()
    )


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
    client_key: uuid.UUID | None = None,
    clicks: int | None = None,
    edit_seconds: float | None = None,
    category_confidence: float | None = None,
    origin: str | None = None,
) -> Annotation:
    clean = check_rle(image, rle)
    category = check_category(image, category_id)
    annotation = Annotation.objects.create(
        image=image,
        category=category,
        rle=clean.rle,
        bbox=clean.bbox,
        area=clean.area,
        status=status,
        source=source,
        score=score,
        created_by=user,
        updated_by=user,
        client_key=client_key,
        clicks=clicks,
        edit_seconds=edit_seconds,
        category_confidence=category_confidence,
    )
    created_event(annotation, user).save()
    if status != AnnotationStatus.PROPOSED:  # machine proposals are not human work
        Image.objects.filter(pk=image.pk, labeling_status=LabelingStatus.UNLABELED).update(
            labeling_status=LabelingStatus.IN_PROGRESS
        )
    publish_annotation_on_commit(
        image.project_id,
        image.pk,
        {
            "type": "annotation.created",
            "annotation": annotation_json(annotation),
            "by": _username(user),
        },
        origin,
    )
    return annotation


def do_accept_annotation(
    image: Image,
    user: User,
    *,
    client_key: uuid.UUID,
    rle: object,
    source: str,
    category_id: int | None = None,
    score: float | None = None,
    clicks: int | None = None,
    edit_seconds: float | None = None,
    origin: str | None = None,
) -> tuple[Annotation, bool]:
    """Create the annotation for an idempotency key once; (annotation, created).

    Not atomic itself: `do_create_annotation` runs in its own (sub)transaction, so a
    concurrent accept with the same key that loses the race on the unique constraint
    rolls back cleanly and returns the winner's row.
    """
    existing = find_accepted(image, client_key)
    if existing is not None:
        return existing, False
    try:
        created = do_create_annotation(
            image,
            user,
            rle=rle,
            source=source,
            category_id=category_id,
            score=score,
            client_key=client_key,
            clicks=clicks,
            edit_seconds=edit_seconds,
            origin=origin,
        )
    except IntegrityError:
        existing = find_accepted(image, client_key)
        if existing is None:
            raise
        return existing, False
    return created, True


def _current(image: Image, annotation_id: int) -> Annotation:
    annotation = (
        Annotation.objects.filter(image=image, pk=annotation_id)
        .select_related("created_by", "updated_by")
        .first()
    )
    if annotation is None:
        raise AnnotationNotFound("This mask no longer exists; it may have been deleted.")
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
    review_comment: str = _UNSET,
    reverts: int | None = None,
    clicks: int | None = None,
    origin: str | None = None,
) -> Annotation:
    """`reverts` names the version whose change this one undoes (labeling/services/undo.py):
    the history says so, and stays append-only."""
    before = _current(image, annotation_id)
    fields: dict[str, Any] = {}
    changes: dict[str, Any] = {}
    if rle is not _UNSET:
        clean = check_rle(image, rle)
        fields.update(rle=clean.rle, bbox=clean.bbox, area=clean.area)
        changes["mask"] = {"area": [before.area, clean.area], "bbox": [before.bbox, clean.bbox]}
        changes["rle"] = clean.rle
    if category_id is not _UNSET:
        fields["category"] = check_category(image, category_id)
        changes["category"] = [before.category_id, category_id]
    if status is not _UNSET:
        if status not in AnnotationStatus.values:
            raise ServiceError(f"Unknown status {status!r}.", field="status")
        fields["status"] = status
        changes["status"] = [before.status, status]
    if review_comment is not _UNSET:
        comment = review_comment.strip()
        if len(comment) > REVIEW_COMMENT_MAX:
            raise ServiceError(
                f"Keep the comment under {REVIEW_COMMENT_MAX} characters.", field="review_comment"
            )
        fields["review_comment"] = comment
        changes["review_comment"] = [before.review_comment, comment]
    if clicks is not None:
        # Work on an existing mask (fixing a machine proposal, say) adds to its clicks,
        # so the dashboard counts what pre-filled masks cost too.
        fields["clicks"] = Coalesce(F("clicks"), 0) + clicks
    if not fields:
        raise ServiceError("Nothing to change.")
    if reverts is not None:
        changes["reverts"] = reverts
    # The conditional UPDATE is the concurrency check: it matches only the version the
    # caller read, so of two concurrent writers exactly one wins.
    matched = Annotation.objects.filter(pk=annotation_id, version=expected_version).update(
        **fields, updated_by=user, version=F("version") + 1
    )
    if not matched:
        raise VersionConflict(_current(image, annotation_id))
    after = Annotation.objects.select_related("created_by", "updated_by").get(pk=annotation_id)
    if after.status == AnnotationStatus.APPROVED and before.status != AnnotationStatus.APPROVED:
        retrain_when_committed(image.project_id)
    record_change(
        image,
        HistoryAction.UPDATED,
        annotation_id,
        user,
        after.version,
        changes,
        {"type": "annotation.updated", "annotation": annotation_json(after)},
        origin,
    )
    return after


@transaction.atomic
def do_delete_annotation(
    image: Image,
    annotation_id: int,
    user: User | None,
    *,
    expected_version: int,
    origin: str | None = None,
) -> None:
    before = _current(image, annotation_id)
    deleted, _ = Annotation.objects.filter(pk=annotation_id, version=expected_version).delete()
    if not deleted:
        raise VersionConflict(_current(image, annotation_id))
    record_change(
        image,
        HistoryAction.DELETED,
        annotation_id,
        user,
        before.version,
        {
            "category": [before.category_id, None],
            "mask": {"area": before.area, "bbox": before.bbox},
            # Everything a restore (undo of this delete) needs to bring the mask back.
            "kept": deleted_state(before),
        },
        {"type": "annotation.deleted", "id": annotation_id},
        origin,
    )


def deleted_state(annotation: Annotation) -> dict[str, Any]:
    """The fields of a mask that its deletion's history row keeps for a restore."""
    return {
        "rle": annotation.rle,
        "status": annotation.status,
        "source": annotation.source,
        "score": annotation.score,
        "review_comment": annotation.review_comment,
        "created_by": annotation.created_by_id,
        "created_at": annotation.created_at.isoformat(),
        "clicks": annotation.clicks,
        "edit_seconds": annotation.edit_seconds,
    }


def record_change(
    image: Image,
    action: str,
    annotation_id: int,
    user: User | None,
    version: int,
    changes: dict[str, Any],
    event: dict[str, Any],
    origin: str | None,
) -> None:
    """Append a change to the history, and push `event` (with who made the change)
    to the pages open on the image once the transaction commits."""
    AnnotationEvent.objects.create(
        image=image,
        annotation_id=annotation_id,
        actor=user,
        action=action,
        version=version,
        changes=changes,
    )
    publish_annotation_on_commit(
        image.project_id, image.pk, {**event, "by": _username(user)}, origin
    )
