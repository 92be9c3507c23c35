"""Masks: list with filters, create from RLE or polygons, update or delete by version.

Writes go through `labeling.services.annotations`, so they are in the history, pushed
live to every open labeling page, and checked for conflicts: a stale `version` gets
409 with the current mask, never a silent overwrite.
"""

from datetime import datetime
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate

from labeling.api.auth import user_of
from labeling.api.listing import apply, refuse_unknown
from labeling.api.schemas import (
    FAILS,
    AnnotationIn,
    AnnotationOut,
    AnnotationPatch,
    AnnotationVersion,
    Conflict,
    Id,
    MaskIn,
    MaskStatus,
    PathId,
    Source,
)
from labeling.models import Annotation, AnnotationSource, Image
from labeling.permissions import UNCHANGED, Ability, Access, abilities_for_change, project_access
from labeling.services.annotations import (
    AnnotationNotFound,
    do_create_annotation,
    do_delete_annotation,
    do_update_annotation,
    polygons_rle,
)
from labeling.services.errors import ServiceError
from labeling.services.undo import (
    check_revert,
    deleted_mask_image,
    do_restore_annotation,
    do_revert_change,
)

router = Router(tags=["annotations"])


class AnnotationFilters(Schema):
    image: Id | None = None
    category: Id | None = None
    status: MaskStatus | None = None
    source: Source | None = None
    created_by: str | None = Query(None, max_length=150, description="A username.")
    updated_after: datetime | None = None
    sort: Literal[
        "id", "-id", "created_at", "-created_at", "updated_at", "-updated_at", "area", "-area"
    ] = "id"


LOOKUPS = {
    "image": "image_id",
    "category": "category_id",
    "status": "status",
    "source": "source",
    "created_by": "created_by__username",
    "updated_after": "updated_at__gt",
}


@router.get("/projects/{project_id}/annotations", response={200: list[AnnotationOut], **FAILS})
@paginate
def list_annotations(
    request: HttpRequest, project_id: PathId, filters: Query[AnnotationFilters]
) -> QuerySet[Annotation]:
    access = project_access(user_of(request), project_id)
    refuse_unknown(request, AnnotationFilters)
    rows = Annotation.objects.filter(image__project=access.project).select_related(
        "created_by", "updated_by"
    )
    return apply(rows, filters, LOOKUPS)


def _mask(image: Image, body: MaskIn) -> dict[str, Any] | None:
    """The body's mask as RLE, or None when it gives none; both is an error."""
    if body.rle is not None and body.polygons is not None:
        raise ServiceError("Give the mask as `rle` or as `polygons`, not both.", field="rle")
    if body.rle is not None:
        return body.rle.model_dump()
    if body.polygons is not None:
        return polygons_rle(image, body.polygons)
    return None


def _check(request: HttpRequest, project_id: int, needs: list[Ability]) -> Access:
    """Access that has every one of `needs`, checked in one query."""
    access = project_access(user_of(request), project_id, needs[0])
    access.require(needs[1:])
    return access


@router.post("/projects/{project_id}/annotations", response={201: AnnotationOut, **FAILS})
def create_annotation(
    request: HttpRequest, project_id: PathId, body: AnnotationIn
) -> Status[Annotation]:
    """Create a mask from `rle` or `polygons`. Approved or rejected masks need the
    reviewer's ability as well as the annotator's."""
    # The schema allows only settable statuses.
    access = _check(request, project_id, abilities_for_change(shape=True, status=body.status))
    image = get_object_or_404(Image, project=access.project, pk=body.image)
    rle = _mask(image, body)
    if rle is None:
        raise ServiceError("Give the mask as `rle` or as `polygons`.", field="rle")
    made = do_create_annotation(
        image,
        user_of(request),
        rle=rle,
        source=AnnotationSource.API,
        category_id=body.category,
        status=body.status,
    )
    return Status(
        201, Annotation.objects.select_related("created_by", "updated_by").get(pk=made.pk)
    )


def _annotation(access: Any, annotation_id: PathId) -> Annotation:
    return get_object_or_404(
        Annotation.objects.select_related("image"),
        image__project=access.project,
        pk=annotation_id,
    )


@router.patch(
    "/projects/{project_id}/annotations/{annotation_id}",
    response={200: AnnotationOut, 409: Conflict, **FAILS},
)
def update_annotation(
    request: HttpRequest, project_id: PathId, annotation_id: PathId, body: AnnotationPatch
) -> Annotation:
    """Change a mask's shape, category, status or review comment. `version` is the
    version you read; if someone changed the mask since, the answer is 409."""
    touched = body.model_fields_set
    needs = abilities_for_change(
        shape=bool(touched & {"rle", "polygons"}),
        category="category" in touched,
        status=UNCHANGED if body.status is None else body.status,
        comment=body.review_comment is not None,
    )
    if not needs:
        raise ServiceError("Give at least one of rle, polygons, category, status, review_comment.")
    access = _check(request, project_id, needs)
    annotation = _annotation(access, annotation_id)
    fields: dict[str, Any] = {}
    rle = _mask(annotation.image, body)
    if rle is not None:
        fields["rle"] = rle
    if "category" in body.model_fields_set:
        fields["category_id"] = body.category
    if body.status is not None:
        fields["status"] = body.status
    if body.review_comment is not None:
        fields["review_comment"] = body.review_comment
    return do_update_annotation(
        annotation.image,
        annotation_id,
        user_of(request),
        expected_version=body.version,
        **fields,
    )


class DeleteQuery(Schema):
    version: int = Query(..., ge=1, le=2**31)


@router.delete(
    "/projects/{project_id}/annotations/{annotation_id}",
    response={204: None, 409: Conflict, **FAILS},
)
def delete_annotation(
    request: HttpRequest, project_id: PathId, annotation_id: PathId, query: Query[DeleteQuery]
) -> Status[None]:
    access = project_access(user_of(request), project_id, Ability.ANNOTATE)
    annotation = _annotation(access, annotation_id)
    do_delete_annotation(
        annotation.image, annotation_id, user_of(request), expected_version=query.version
    )
    return Status(204, None)


@router.post(
    "/projects/{project_id}/annotations/{annotation_id}/revert",
    response={200: AnnotationOut, 409: Conflict, **FAILS},
)
def revert_annotation(
    request: HttpRequest, project_id: PathId, annotation_id: PathId, body: AnnotationVersion
) -> Annotation:
    """Undo the change that made `version` (the mask must still be at it, else 409):
    a new version with the values from before, recorded as a revert. Reverting a
    revert redoes the change. Needs what the change needed; a verdict (approved,
    rejected) is taken back by reviewers only."""
    access = project_access(user_of(request), project_id)
    annotation = _annotation(access, annotation_id)
    access.require(check_revert(annotation.image, annotation_id, body.version).needs)
    return do_revert_change(
        annotation.image, annotation_id, user_of(request), expected_version=body.version
    )


@router.post(
    "/projects/{project_id}/annotations/{annotation_id}/restore",
    response={201: AnnotationOut, 409: Conflict, **FAILS},
)
def restore_annotation(
    request: HttpRequest, project_id: PathId, annotation_id: PathId, body: AnnotationVersion
) -> Status[Annotation]:
    """Undo a delete: the mask comes back with its id, at the version after `version`
    (the version it was deleted at). 409 if it is back already (with the current
    mask) or was restored and deleted again since."""
    access = project_access(user_of(request), project_id, Ability.ANNOTATE)
    try:
        image = deleted_mask_image(access.project.pk, annotation_id)
    except AnnotationNotFound:
        raise Http404 from None  # as for any id that is not in the project
    restored = do_restore_annotation(
        image, annotation_id, user_of(request), expected_version=body.version
    )
    return Status(201, restored)
