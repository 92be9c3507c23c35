"""Concept prompts from the project page: turn them on or off, run Find all over
every image or the selected ones for chosen categories, cancel a run."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.views.decorators.http import require_POST

from labeling.permissions import Ability, project_access
from labeling.services.concepts import do_cancel_concepts, do_set_enabled, do_start_concepts
from labeling.services.errors import ServiceError
from labeling.views import AuthedRequest
from labeling.views.proposals import _back

MAX_IDS = 10_001


def _ids(values: list[str]) -> list[int]:
    try:
        return [int(v) for v in values[:MAX_IDS]]
    except ValueError:
        return []


@login_required
@require_POST
def start(request: AuthedRequest, project_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    ids = None if request.POST.get("scope") == "project" else _ids(request.POST.getlist("image"))
    try:
        job = do_start_concepts(
            access.project,
            request.user,
            ids,
            _ids(request.POST.getlist("category")),
            request.POST.get("threshold", "0.5"),
        )
    except ServiceError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, f"Finding every instance in {job.total} image(s).")
    return _back(request, project_id)


@login_required
@require_POST
def cancel(request: AuthedRequest, project_id: int, job_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    try:
        job = do_cancel_concepts(access.project, job_id)
    except ServiceError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, f"Find all canceled with {job.done} of {job.total} image(s).")
    return _back(request, project_id)


@login_required
@require_POST
def toggle(request: AuthedRequest, project_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    enabled = request.POST.get("enabled") == "on"
    do_set_enabled(access.project, enabled)
    messages.success(request, f"Concept prompts {'on' if enabled else 'off'}.")
    return _back(request, project_id)
