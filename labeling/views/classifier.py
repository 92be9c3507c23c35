"""The category classifier from the UI: admins ask for a training (the figures are on
the dashboard, for reviewers and admins)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from labeling.permissions import Ability, project_access
from labeling.services.classifier import do_request_training
from labeling.views import AuthedRequest


@login_required
@require_POST
def train(request: AuthedRequest, project_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.TRAIN)
    if do_request_training(access.project, request.user):
        messages.success(request, "Training the category classifier in the background.")
    else:
        messages.info(request, "A training is already queued; it will include every approval.")
    return redirect("project-dashboard", project_id=project_id)
