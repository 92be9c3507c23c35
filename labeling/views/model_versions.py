"""The Model versions page: train the project's decoder, watch the run, adopt a
version or roll back (admins only, `Ability.TRAIN`)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from labeling.permissions import Ability, project_access
from labeling.services.errors import ServiceError
from labeling.services.training import (
    check_training_options,
    do_adopt_version,
    do_cancel_training,
    do_start_training,
    versions_page,
)
from labeling.views import AuthedRequest


@login_required
@require_GET
def page(request: AuthedRequest, project_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.TRAIN)
    context = {
        "access": access,
        "project": access.project,
        "default_seconds": settings.ANYMASK_TRAINING_SECONDS,
        "max_seconds": settings.ANYMASK_TRAINING_MAX_SECONDS,
        **versions_page(access.project),
    }
    return render(request, "labeling/model_versions.html", context)


@login_required
@require_GET
def status(request: AuthedRequest, project_id: int) -> JsonResponse:
    access = project_access(request.user, project_id, Ability.TRAIN)
    return JsonResponse(versions_page(access.project))


@login_required
@require_POST
def train(request: AuthedRequest, project_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.TRAIN)
    try:
        seconds, seed = check_training_options(
            request.POST.get("seconds"), request.POST.get("seed")
        )
    except ServiceError as refused:
        messages.error(request, refused.message)
    else:
        do_start_training(access.project, request.user, seconds, seed)
        messages.success(request, "Training queued; its progress shows below.")
    return redirect("model-versions", project_id=project_id)


@login_required
@require_POST
def cancel(request: AuthedRequest, project_id: int, job_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.TRAIN)
    try:
        do_cancel_training(access.project, job_id)
    except ServiceError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, "Training canceled; no version was kept.")
    return redirect("model-versions", project_id=project_id)


@login_required
@require_POST
def adopt(request: AuthedRequest, project_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.TRAIN)
    raw = request.POST.get("version", "")
    try:
        number = None if raw in ("", "base") else int(raw)
        version = do_adopt_version(access.project, number)
    except ValueError:
        messages.error(request, "Pick a version or the base model.")
    except ServiceError as refused:
        messages.error(request, refused.message)
    else:
        name = f"version {version.number}" if version else "the base model"
        messages.success(request, f"The project now decodes with {name}.")
    return redirect("model-versions", project_id=project_id)
