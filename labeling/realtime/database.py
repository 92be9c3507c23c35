"""The labeling socket's calls into the database and the services.

Each function here runs in Channels' database thread (`database_sync_to_async`),
never on the event loop, and turns the services' errors into protocol refusals.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied

from inference import MAX_POINTS
from inference.outlines import MAX_OUTLINE_VERTICES
from labeling.models import REVIEW_COMMENT_MAX, Annotation, Category, Image
from labeling.permissions import Ability, ProjectNotFound, project_access
from labeling.realtime.protocol import Refusal
from labeling.services.annotations import (
    AnnotationNotFound,
    VersionConflict,
    annotation_json,
    do_accept_annotation,
    do_delete_annotation,
    do_update_annotation,
    find_accepted,
    image_annotations,
)
from labeling.services.errors import ServiceError
from labeling.services.outlines import check_outline_source
from labeling.services.undo import (
    RestoreConflict,
    check_revert,
    do_restore_annotation,
    do_revert_change,
)


def connect_state(user: Any, image_id: int) -> tuple[dict[str, Any], int, str] | None:
    """The `hello` push, the image's project id and its embedding error; None if the
    user may not see the image (or there is none)."""
    image = Image.objects.filter(pk=image_id).first()
    if image is None:
        return None
    try:
        access = project_access(user, image.project_id, Ability.VIEW)
    except (ProjectNotFound, PermissionDenied):
        return None
    categories = Category.objects.filter(project_id=image.project_id)
    hello = {
        "type": "hello",
        "image": {
            "id": image.pk,
            "width": image.width,
            "height": image.height,
            "embedding": image.embedding_status,
        },
        "user": {"id": user.pk, "username": user.username, "role": access.role},
        "abilities": access.abilities,
        "categories": [{"id": c.pk, "name": c.name, "color": c.color} for c in categories],
        "annotations": image_annotations(image),
        "limits": {
            "max_points": MAX_POINTS,
            "max_frame_bytes": settings.ANYMASK_WS_MAX_FRAME_BYTES,
            "max_review_comment": REVIEW_COMMENT_MAX,
            "max_polygon_vertices": MAX_OUTLINE_VERTICES,
        },
    }
    return hello, image.project_id, image.embedding_error


def embedding_state(image_id: int) -> tuple[str, str] | None:
    row = Image.objects.filter(pk=image_id).values_list("embedding_status", "embedding_error")
    return row.first()


def accepted_reply(image: Image, key: uuid.UUID) -> dict[str, Any] | None:
    found = find_accepted(image, key)
    return None if found is None else annotation_json(found)


def refusal(error: ServiceError) -> Refusal:
    """The protocol's refusal for a service's error: a mask someone else already
    brought back is a conflict, a mask that is gone is not found, anything else is
    invalid input. (A stale version is no refusal: `changed` answers it with the
    current mask.)"""
    if isinstance(error, RestoreConflict):
        return Refusal("conflict", error.message)
    if isinstance(error, AnnotationNotFound):
        return Refusal("not_found", error.message)
    return Refusal("invalid", error.message)


def changed(change: Callable[[], Annotation]) -> tuple[str, dict[str, Any]]:
    """Run one change of a mask: ("saved", the mask after) or ("conflict", the
    current mask, when the client's version is stale)."""
    try:
        after = change()
    except VersionConflict as conflict:
        return "conflict", annotation_json(conflict.current)
    except ServiceError as error:
        raise refusal(error) from None
    return "saved", annotation_json(after)


def accept(image: Image, user: User, **fields: Any) -> dict[str, Any]:
    try:
        annotation, _created = do_accept_annotation(image, user, **fields)
    except ServiceError as error:
        raise refusal(error) from None
    return annotation_json(annotation)


def update(
    image: Image, annotation_id: int, user: User, **fields: Any
) -> tuple[str, dict[str, Any]]:
    """("saved", the mask after) or ("conflict", the current mask)."""
    return changed(lambda: do_update_annotation(image, annotation_id, user, **fields))


def delete(image: Image, annotation_id: int, user: User, **fields: Any) -> dict[str, Any] | None:
    """None once deleted, else the current mask (a conflict)."""
    try:
        do_delete_annotation(image, annotation_id, user, **fields)
    except VersionConflict as conflict:
        return annotation_json(conflict.current)
    except ServiceError as error:
        raise refusal(error) from None
    return None


def revert_needs(image: Image, annotation_id: int, version: int) -> list[Ability]:
    """What undoing the change that made `version` needs (checked before it runs)."""
    try:
        return check_revert(image, annotation_id, version).needs
    except ServiceError as error:
        raise refusal(error) from None


def revert(
    image: Image, annotation_id: int, user: User, **fields: Any
) -> tuple[str, dict[str, Any]]:
    """Undo one change: ("saved", the mask after) or ("conflict", the current mask)."""
    return changed(lambda: do_revert_change(image, annotation_id, user, **fields))


def restore(
    image: Image, annotation_id: int, user: User, **fields: Any
) -> tuple[str, dict[str, Any]]:
    """Undo a delete: ("saved", the mask back) or ("conflict", the mask someone else
    already brought back)."""
    return changed(lambda: do_restore_annotation(image, annotation_id, user, **fields))


def outline_source(image: Image, annotation_id: int) -> Annotation:
    try:
        return check_outline_source(image, annotation_id)
    except ServiceError as error:
        raise refusal(error) from None
