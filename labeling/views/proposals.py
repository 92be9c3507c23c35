"""Machine proposals from the UI: run them, cancel them, and set the project's
quality filters."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from labeling.permissions import Ability, project_access
from labeling.services.errors import ServiceError
from labeling.services.proposals import (
    do_cancel_proposals,
    do_start_proposals,
    do_update_filters,
)
from labeling.views import AuthedRequest
from labeling.wording import plural


def _back(request: AuthedRequest, project_id: int) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("project-detail", project_id=project_id)


@login_required
@require_POST
def start(request: AuthedRequest, project_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    ids: list[int] | None = None
    if request.POST.get("scope") != "project":
        try:
            ids = [int(v) for v in request.POST.getlist("image")[:10_001]]
        except ValueError:
            ids = []
    try:
        job = do_start_proposals(access.project, request.user, ids)
    except ServiceError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(
            request, f"Proposing masks for {plural(job.total, 'image')} in the background."
        )
    return _back(request, project_id)


@login_required
@require_POST
def cancel(request: AuthedRequest, project_id: int, job_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    try:
        job = do_cancel_proposals(access.project, job_id)
    except ServiceError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(
            request,
            f"Proposals canceled with {job.done} of {plural(job.total, 'image')} done; "
            "an image in progress still gets its proposals.",
        )
    return _back(request, project_id)


@login_required
@require_POST
def filters(request: AuthedRequest, project_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    try:
        do_update_filters(
            access.project,
            request.POST.get("min_iou"),
            request.POST.get("min_stability"),
            request.POST.get("min_area"),
        )
    except ServiceError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, "Proposal filters saved.")
    return _back(request, project_id)
