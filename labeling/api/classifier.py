"""The category classifier: its quality (reviewers and admins) and a training on
demand (admins)."""

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status

from labeling.api.auth import user_of
from labeling.api.schemas import FAILS, PathId
from labeling.permissions import Ability, project_access
from labeling.services.classifier import classifier_json, do_request_training

router = Router(tags=["classifier"])


class CategoryFigures(Schema):
    id: int
    name: str
    train: int
    heldout: int
    correct: int


class ClassifierOut(Schema):
    """Where the project's classifier stands: `active` once one is trained; its
    accuracy on the held-out images' masks (null: none held out yet)."""

    active: bool
    version: int
    heldout_accuracy: float | None
    train_masks: int
    heldout_masks: int
    categories: list[CategoryFigures]
    trained_at: str | None
    pending: bool
    requested_by: str | None
    error: str
    approved_masks: int
    retrain_every: int
    next_retrain_in: int


class TrainOut(Schema):
    queued: bool
    classifier: ClassifierOut


@router.get("/projects/{project_id}/classifier", response={200: ClassifierOut, **FAILS})
def get_classifier(request: HttpRequest, project_id: PathId) -> dict[str, Any]:
    access = project_access(user_of(request), project_id, Ability.VIEW_QUALITY)
    return classifier_json(access.project)


@router.post("/projects/{project_id}/classifier/train", response={202: TrainOut, **FAILS})
def train_classifier(request: HttpRequest, project_id: PathId) -> Status[Any]:
    """Queue a retrain; `queued` is false when one is already pending (it will
    include every approval so far)."""
    access = project_access(user_of(request), project_id, Ability.TRAIN)
    queued = do_request_training(access.project, user_of(request))
    return Status(202, {"queued": queued, "classifier": classifier_json(access.project)})
