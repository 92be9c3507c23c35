"""Model quality: start an evaluation run (admins), list runs and get one with its
figures (admins and reviewers), cancel one (admins)."""

from typing import Annotated, Any, Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Status

from labeling.api.auth import user_of
from labeling.api.schemas import FAILS, PathId, Strict
from labeling.evaluation_models import EvaluationRun
from labeling.permissions import Ability, project_access
from labeling.services.evaluation import (
    MAX_LIMIT,
    check_evaluation_options,
    do_cancel_evaluation,
    do_start_evaluation,
    run_json,
)

router = Router(tags=["model quality"])
LISTED = 100


class EvaluationIn(Strict):
    # A version number of the project; omitted or null: the base model.
    version: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    masks: Literal["approved", "submitted", "ground_truth"] = "approved"
    split: Literal["holdout", "all"] = "holdout"
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] | None = None


@router.post("/projects/{project_id}/evaluations", response={202: dict[str, Any], **FAILS})
def start_evaluation(request: HttpRequest, project_id: PathId, body: EvaluationIn) -> Status[Any]:
    """Queue an evaluation run; poll it until `status` is done for its `metrics`."""
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    options = check_evaluation_options(
        access.project, version=body.version, masks=body.masks, split=body.split, limit=body.limit
    )
    run = do_start_evaluation(access.project, user_of(request), options)
    return Status(202, run_json(run))


@router.get("/projects/{project_id}/evaluations", response={200: list[dict[str, Any]], **FAILS})
def list_evaluations(request: HttpRequest, project_id: PathId) -> list[dict[str, Any]]:
    """The newest runs (up to 100), without per-category figures and worst instances."""
    access = project_access(user_of(request), project_id, Ability.VIEW_QUALITY)
    runs = access.project.evaluations.select_related("version", "created_by")[:LISTED]
    return [run_json(run, details=False) for run in runs]


@router.get("/projects/{project_id}/evaluations/{run_id}", response={200: dict[str, Any], **FAILS})
def get_evaluation(request: HttpRequest, project_id: PathId, run_id: PathId) -> dict[str, Any]:
    access = project_access(user_of(request), project_id, Ability.VIEW_QUALITY)
    run = get_object_or_404(
        EvaluationRun.objects.select_related("version", "created_by"),
        project=access.project,
        pk=run_id,
    )
    return run_json(run)


@router.post(
    "/projects/{project_id}/evaluations/{run_id}/cancel", response={200: dict[str, Any], **FAILS}
)
def cancel_evaluation(request: HttpRequest, project_id: PathId, run_id: PathId) -> dict[str, Any]:
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    return run_json(do_cancel_evaluation(access.project, run_id))
