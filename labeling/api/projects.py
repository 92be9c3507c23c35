"""Projects, their images (upload, list, status, submit, review) and categories."""

from typing import Literal

from django.db.models import F, QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import File, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from labeling.api.auth import user_of
from labeling.api.listing import apply, refuse_unknown
from labeling.api.schemas import (
    FAILS,
    CategoryIn,
    CategoryOut,
    CategoryPatch,
    EmbeddingStatus,
    Error,
    ImageOut,
    ImageReviewIn,
    LabelingStatus,
    PathId,
    ProjectDetail,
    ProjectOut,
    UploadOut,
)
from labeling.models import Category, Image, Project
from labeling.permissions import Ability, project_access
from labeling.services.categories import (
    do_create_category,
    do_delete_category,
    do_update_category,
)
from labeling.services.projects import project_counts
from labeling.services.review import do_review_image, do_submit_image
from labeling.services.uploads import do_add_uploads

router = Router(tags=["projects"])


class ProjectFilters(Schema):
    role: Literal["admin", "annotator", "reviewer"] | None = None
    sort: Literal["name", "-name", "id", "-id", "created_at", "-created_at"] = "name"


@router.get("/projects", response=list[ProjectOut])
@paginate
def list_projects(request: HttpRequest, filters: Query[ProjectFilters]) -> QuerySet[Project]:
    refuse_unknown(request, ProjectFilters)
    # One join to the caller's memberships, so the page is sliced in SQL and each
    # row carries the caller's role in it.
    rows = Project.objects.filter(memberships__user=user_of(request)).annotate(
        role=F("memberships__role")
    )
    if filters.role is not None:
        rows = rows.filter(role=filters.role)
    key = filters.sort.lstrip("-")
    sign = "-" if filters.sort.startswith("-") else ""
    return rows.order_by(f"{sign}{key}", f"{sign}id")


@router.get("/projects/{project_id}", response={200: ProjectDetail, 404: Error})
def get_project(request: HttpRequest, project_id: PathId) -> ProjectDetail:
    access = project_access(user_of(request), project_id)
    project = access.project
    return ProjectDetail(
        id=project.pk,
        name=project.name,
        description=project.description,
        role=access.role,
        created_at=project.created_at,
        counts=project_counts(project),
    )


class ImageFilters(Schema):
    labeling_status: LabelingStatus | None = None
    embedding_status: EmbeddingStatus | None = None
    name: str | None = Query(None, max_length=255, description="Exact original file name.")
    sort: Literal["id", "-id", "uploaded_at", "-uploaded_at", "original_name", "-original_name"] = (
        "id"
    )


IMAGE_LOOKUPS = {
    "labeling_status": "labeling_status",
    "embedding_status": "embedding_status",
    "name": "original_name",
}
IMAGE_PEOPLE = ("claimed_by", "submitted_by", "reviewed_by")


@router.get("/projects/{project_id}/images", response={200: list[ImageOut], **FAILS})
@paginate
def list_images(
    request: HttpRequest, project_id: PathId, filters: Query[ImageFilters]
) -> QuerySet[Image]:
    access = project_access(user_of(request), project_id)
    refuse_unknown(request, ImageFilters)
    images = Image.objects.filter(project=access.project).select_related(*IMAGE_PEOPLE)
    return apply(images, filters, IMAGE_LOOKUPS)


@router.post("/projects/{project_id}/images", response={200: UploadOut, **FAILS})
def upload_images(
    request: HttpRequest, project_id: PathId, files: File[list[UploadedFile]]
) -> dict[str, object]:
    """Upload images or zips of images (multipart field `files`, repeated);
    each file is accepted or refused on its own, with a reason."""
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    results = do_add_uploads(access.project, user_of(request), list(files))
    return {"results": results}


def _image(request: HttpRequest, project_id: PathId, image_id: PathId, ability: Ability) -> Image:
    access = project_access(user_of(request), project_id, ability)
    # Filtered by project: another project's image id is a 404 like a missing one.
    return get_object_or_404(
        Image.objects.select_related(*IMAGE_PEOPLE), project=access.project, pk=image_id
    )


@router.get("/projects/{project_id}/images/{image_id}", response={200: ImageOut, **FAILS})
def get_image(request: HttpRequest, project_id: PathId, image_id: PathId) -> Image:
    return _image(request, project_id, image_id, Ability.VIEW)


@router.post("/projects/{project_id}/images/{image_id}/submit", response={200: ImageOut, **FAILS})
def submit_image(request: HttpRequest, project_id: PathId, image_id: PathId) -> Image:
    """Submit the image for review: its draft masks become submitted."""
    image = _image(request, project_id, image_id, Ability.ANNOTATE)
    do_submit_image(image, user_of(request))
    return _image(request, project_id, image_id, Ability.VIEW)


@router.post("/projects/{project_id}/images/{image_id}/review", response={200: ImageOut, **FAILS})
def review_image(
    request: HttpRequest, project_id: PathId, image_id: PathId, body: ImageReviewIn
) -> Image:
    """Approve or reject a submitted image (its submitted masks) with a comment."""
    image = _image(request, project_id, image_id, Ability.REVIEW)
    do_review_image(image, user_of(request), body.decision, body.comment)
    return _image(request, project_id, image_id, Ability.VIEW)


class CategoryFilters(Schema):
    sort: Literal["order", "-order", "name", "-name", "id", "-id"] = "order"


@router.get("/projects/{project_id}/categories", response={200: list[CategoryOut], **FAILS})
@paginate
def list_categories(
    request: HttpRequest, project_id: PathId, filters: Query[CategoryFilters]
) -> QuerySet[Category]:
    access = project_access(user_of(request), project_id)
    refuse_unknown(request, CategoryFilters)
    return apply(Category.objects.filter(project=access.project), filters, {})


@router.post("/projects/{project_id}/categories", response={201: CategoryOut, **FAILS})
def create_category(request: HttpRequest, project_id: PathId, body: CategoryIn) -> Status[Category]:
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    made = do_create_category(access.project, name=body.name, color=body.color, order=body.order)
    return Status(201, made)


@router.patch(
    "/projects/{project_id}/categories/{category_id}", response={200: CategoryOut, **FAILS}
)
def update_category(
    request: HttpRequest, project_id: PathId, category_id: PathId, body: CategoryPatch
) -> Category:
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    current = get_object_or_404(Category, project=access.project, pk=category_id)
    return do_update_category(
        access.project,
        category_id,
        name=body.name if body.name is not None else current.name,
        color=body.color if body.color is not None else current.color,
        order=body.order if body.order is not None else current.order,
    )


@router.delete("/projects/{project_id}/categories/{category_id}", response={204: None, **FAILS})
def delete_category(request: HttpRequest, project_id: PathId, category_id: PathId) -> Status[None]:
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    get_object_or_404(Category, project=access.project, pk=category_id)
    do_delete_category(access.project, category_id)
    return Status(204, None)
