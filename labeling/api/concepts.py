"""Concept prompts (SAM 3) over the API: one query on an image (annotators and
admins), answered by a `concepts` worker; Find all jobs (admins): start, list, cancel."""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status

from labeling.api.auth import user_of
from labeling.api.schemas import FAILS, PathId
from labeling.models import ConceptJob, Image
from labeling.permissions import Ability, project_access
from labeling.services import concepts
from labeling.services.errors import ServiceError

router = Router(tags=["concepts"])
POLL_SECONDS = 0.2


class QueryIn(Schema):
    phrases: list[str] = []
    exemplars: list[list[Any]] = []
    threshold: float = 0.5


class FindAllIn(Schema):
    categories: list[int]
    images: list[int] | None = None
    threshold: float = 0.5


@router.post(
    "/projects/{project_id}/images/{image_id}/concepts", response={200: Any, 504: Any, **FAILS}
)
def query(request: HttpRequest, project_id: PathId, image_id: PathId, body: QueryIn) -> Status[Any]:
    """Every instance of the phrases (or of the boxed examples) on the image, best
    first: `{"instances": [{rle, box, score, area}]}`. Waits for the worker, at most
    ANYMASK_CONCEPT_TIMEOUT_SECONDS (then 504)."""
    access = project_access(user_of(request), project_id, Ability.ANNOTATE)
    image = get_object_or_404(Image, project=access.project, pk=image_id)
    concepts.check_available(access.project)
    params = concepts.check_query(image, body.dict())
    query_id = concepts.do_queue_query(image, f"api-{uuid.uuid4().hex}", 0, params)
    deadline = time.monotonic() + settings.ANYMASK_CONCEPT_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        row = concepts.take_answer(query_id)
        if row is not None:
            if row.error:
                raise ServiceError(f"The concept query failed: {row.error}")
            return Status(200, {"instances": row.result})
        time.sleep(POLL_SECONDS)
    concepts.do_supersede_query(query_id)
    return Status(504, {"detail": "No concept worker answered in time; try again."})


@router.post("/projects/{project_id}/concepts/jobs", response={202: Any, **FAILS})
def start_find_all(request: HttpRequest, project_id: PathId, body: FindAllIn) -> Status[Any]:
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    job = concepts.do_start_concepts(
        access.project, user_of(request), body.images, body.categories, body.threshold
    )
    return Status(202, concepts.job_json(job))


@router.get("/projects/{project_id}/concepts/jobs", response={200: Any, **FAILS})
def list_find_all(request: HttpRequest, project_id: PathId) -> list[dict[str, Any]]:
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    return [concepts.job_json(job) for job in access.project.concept_jobs.all()[:50]]


@router.post("/projects/{project_id}/concepts/jobs/{job_id}/cancel", response={200: Any, **FAILS})
def cancel_find_all(request: HttpRequest, project_id: PathId, job_id: PathId) -> dict[str, Any]:
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    get_object_or_404(ConceptJob, project=access.project, pk=job_id)
    return concepts.job_json(concepts.do_cancel_concepts(access.project, job_id))
