"""Fine-tuning and model versions over the API: start or cancel a training run, list
runs and versions, adopt a version or roll back to the base (admins only)."""

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from labeling.api.auth import user_of
from labeling.api.schemas import FAILS, PathId
from labeling.permissions import Ability, project_access
from labeling.services.training import (
    MAX_SEED,
    check_training_options,
    do_adopt_version,
    do_cancel_training,
    do_start_training,
    job_json,
    versions_page,
)

router = Router(tags=["model versions"])


class TrainingIn(Schema):
    seconds: int | None = Field(default=None, ge=10, description="Time budget; default: setting")
    seed: int = Field(default=0, ge=0, le=MAX_SEED)


class AdoptIn(Schema):
    version: int | None = Field(description="A version number, or null for the base model")


@router.get("/projects/{project_id}/model-versions", response={200: dict[str, Any], **FAILS})
def list_versions(request: HttpRequest, project_id: PathId) -> dict[str, Any]:
    """The adopted version, every version with its held-out figures, and recent runs."""
    access = project_access(user_of(request), project_id, Ability.TRAIN)
    return versions_page(access.project)


@router.post("/projects/{project_id}/model-versions/adopt", response={200: dict[str, Any], **FAILS})
def adopt_version(request: HttpRequest, project_id: PathId, body: AdoptIn) -> dict[str, Any]:
    """Decode with this version from now on (null: roll back to the base model)."""
    access = project_access(user_of(request), project_id, Ability.TRAIN)
    do_adopt_version(access.project, body.version)
    return versions_page(access.project)


@router.post("/projects/{project_id}/training", response={202: dict[str, Any], **FAILS})
def start_training(request: HttpRequest, project_id: PathId, body: TrainingIn) -> Status[Any]:
    """Queue a fine-tuning run; poll the model versions for its progress."""
    access = project_access(user_of(request), project_id, Ability.TRAIN)
    seconds, seed = check_training_options(body.seconds, body.seed)
    job = do_start_training(access.project, user_of(request), seconds, seed)
    return Status(202, job_json(job))


@router.post(
    "/projects/{project_id}/training/{job_id}/cancel", response={200: dict[str, Any], **FAILS}
)
def cancel_training(request: HttpRequest, project_id: PathId, job_id: PathId) -> dict[str, Any]:
    access = project_access(user_of(request), project_id, Ability.TRAIN)
    return job_json(do_cancel_training(access.project, job_id))
