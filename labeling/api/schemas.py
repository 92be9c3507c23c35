"""What the API reads and writes. Inputs are bounded here, before any service runs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from django.urls import reverse
from ninja import Field, Path, Schema
from pydantic import (
    ConfigDict,
    ModelWrapValidatorHandler,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

from labeling.models import REVIEW_COMMENT_MAX, Annotation, Export, Image, JobStatus
from labeling.services.annotations import annotation_json

Username = str | None
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
# Ids in URLs: out-of-range numbers are a 422 here, not an overflow in the database.
PathId = Annotated[int, Path(ge=1, le=2**63 - 1)]
MaskStatus = Literal["proposed", "draft", "submitted", "approved", "rejected"]
SettableStatus = Literal["draft", "submitted", "approved", "rejected"]
LabelingStatus = Literal["unlabeled", "in_progress", "submitted", "approved", "rejected"]
EmbeddingStatus = Literal["pending", "running", "ready", "failed"]
Source = Literal["sam", "manual", "auto", "import", "api", "concept"]
Colour = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]
# One polygon ring, COCO style: [x1, y1, x2, y2, ...]; the mask service checks the rest.
Ring = Annotated[list[float], Field(min_length=6, max_length=200_000)]


class Strict(Schema):
    """Inputs refuse unknown fields: a misspelt `categroy` is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid")


class Error(Schema):
    detail: str
    field: str | None = None


# The failures every project operation may answer, for the OpenAPI schema.
FAILS = {400: Error, 403: Error, 404: Error}


class Me(Schema):
    username: str


class ProjectOut(Schema):
    id: int
    name: str
    description: str
    role: str
    created_at: datetime


class ProjectDetail(ProjectOut):
    counts: dict[str, int]


class ImageOut(Schema):
    id: int
    original_name: str
    width: int
    height: int
    format: str
    byte_size: int
    sha256: str
    uploaded_at: datetime
    labeling_status: str
    embedding_status: str
    embedding_error: str
    claimed_by: Username
    submitted_by: Username
    reviewed_by: Username
    review_comment: str

    @staticmethod
    def resolve_claimed_by(obj: Image) -> Username:
        return obj.claimed_by.username if obj.claimed_by else None

    @staticmethod
    def resolve_submitted_by(obj: Image) -> Username:
        return obj.submitted_by.username if obj.submitted_by else None

    @staticmethod
    def resolve_reviewed_by(obj: Image) -> Username:
        return obj.reviewed_by.username if obj.reviewed_by else None


class UploadResultOut(Schema):
    name: str
    status: str
    reason: str
    image: ImageOut | None = None


class UploadOut(Schema):
    results: list[UploadResultOut]


class ImageReviewIn(Strict):
    decision: Literal["approve", "reject"]
    comment: Annotated[str, Field(max_length=REVIEW_COMMENT_MAX)] = ""


class CategoryIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    color: Colour = "#1f77b4"
    order: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None


class CategoryPatch(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    color: Colour | None = None
    order: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None


class CategoryOut(Schema):
    id: int
    name: str
    color: str
    order: int


class Rle(Strict):
    """COCO RLE: compressed (`counts` a string) or not (a list of run lengths)."""

    size: Annotated[list[Annotated[int, Field(ge=1, le=2**31)]], Field(min_length=2, max_length=2)]
    counts: (
        Annotated[str, Field(max_length=4_000_000)]
        | Annotated[list[Annotated[int, Field(ge=0, le=2**31)]], Field(max_length=1_000_000)]
    )


class MaskIn(Strict):
    """A mask as RLE or as polygons (one of the two)."""

    rle: Rle | None = None
    polygons: Annotated[list[Ring], Field(min_length=1, max_length=10_000)] | None = None


class AnnotationIn(MaskIn):
    image: Id
    category: Id | None = None
    status: SettableStatus = "draft"


class AnnotationPatch(MaskIn):
    version: Annotated[int, Field(ge=1, le=2**31)]
    category: Id | None = None
    status: SettableStatus | None = None
    review_comment: Annotated[str, Field(max_length=REVIEW_COMMENT_MAX)] | None = None


class AnnotationVersion(Strict):
    """Which version an undo starts from: the one a change made, or a delete removed."""

    version: Annotated[int, Field(ge=1, le=2**31)]


class AnnotationOut(Schema):
    """A mask, exactly as the labeling socket sends it (`annotation_json`)."""

    id: int
    image: int
    category: int | None
    rle: dict[str, Any]
    bbox: list[float]
    area: int
    status: str
    source: str
    score: float | None
    category_confidence: float | None
    version: int
    review_comment: str
    created_by: Username
    updated_by: Username
    created_at: datetime
    updated_at: datetime

    # Replaces ninja's root validator (same name) for this schema: one serialisation
    # for both transports, so the API reads exactly what the socket sends.
    @model_validator(mode="wrap")
    @classmethod
    def _run_root_validator(
        cls, values: Any, handler: ModelWrapValidatorHandler[Any], info: ValidationInfo
    ) -> Any:
        return handler(annotation_json(values) if isinstance(values, Annotation) else values)


class Conflict(Schema):
    detail: str
    current: AnnotationOut


class ExportIn(Strict):
    statuses: Annotated[list[MaskStatus], Field(min_length=1, max_length=5)] = ["approved"]
    segmentation: Literal["rle", "polygon"] = "rle"
    include_empty: bool = False
    with_images: bool = False


class ExportOut(Schema):
    id: int
    status: str
    done: int
    total: int
    created_at: datetime
    created_by: Username
    statuses: list[str]
    segmentation: str
    include_empty: bool
    with_images: bool
    images: int
    annotations: int
    skipped_uncategorized: int
    byte_size: int
    error: str
    download: bool
    download_url: str | None

    @staticmethod
    def resolve_created_by(obj: Export) -> Username:
        return obj.created_by.username if obj.created_by else None

    @staticmethod
    def resolve_images(obj: Export) -> int:
        return obj.image_count

    @staticmethod
    def resolve_annotations(obj: Export) -> int:
        return obj.annotation_count

    @staticmethod
    def resolve_download(obj: Export) -> bool:
        return obj.status == JobStatus.DONE

    @staticmethod
    def resolve_download_url(obj: Export) -> str | None:
        if obj.status != JobStatus.DONE:
            return None
        return reverse("api-1:download_export", args=[obj.project_id, obj.pk])
