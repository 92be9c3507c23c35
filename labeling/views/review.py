"""Review: an annotator submits an image, a reviewer approves or rejects it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from labeling.models import Image
from labeling.permissions import Ability, project_access
from labeling.services.claims import do_claim_next
from labeling.services.errors import ServiceError
from labeling.services.review import do_review_image, do_submit_image, review_queue
from labeling.views import AuthedRequest
from labeling.wording import plural


@login_required
@require_POST
def image_submit(request: AuthedRequest, project_id: int, image_id: int) -> HttpResponse:
    """The annotator is done: the image goes to review, and the work queue hands
    them their next image."""
    access = project_access(request.user, project_id, Ability.ANNOTATE)
    image = get_object_or_404(Image, project=access.project, pk=image_id)
    moved = do_submit_image(image, request.user)
    note = f" with {moved} mask{'s' if moved != 1 else ''}" if moved else ""
    messages.success(request, f"Submitted {image.original_name}{note} for review.")
    target = do_claim_next(access.project, request.user, after=image.pk)
    if target is None:
        messages.info(request, "Nothing left unlabeled in this project.")
        return redirect("project-detail", project_id=project_id)
    return redirect("label-page", project_id=project_id, image_id=target.pk)


@login_required
@require_POST
def image_review(request: AuthedRequest, project_id: int, image_id: int) -> HttpResponse:
    """A reviewer's decision on a whole submitted image; then the next one to review."""
    access = project_access(request.user, project_id, Ability.REVIEW)
    image = get_object_or_404(Image, project=access.project, pk=image_id)
    decision = request.POST.get("decision", "")
    try:
        moved = do_review_image(image, request.user, decision, request.POST.get("comment", ""))
    except ServiceError as refused:
        messages.error(request, refused.message)
        return redirect("label-page", project_id=project_id, image_id=image_id)
    verb = "Approved" if decision == "approve" else "Rejected"
    messages.success(request, f"{verb} {image.original_name} ({plural(moved, 'mask')}).")
    waiting = review_queue(project_id)
    if not waiting:
        messages.info(request, "Nothing else is waiting for review.")
        return redirect("project-review", project_id=project_id)
    return redirect("label-page", project_id=project_id, image_id=waiting[0].pk)


@login_required
@require_GET
def review_page(request: AuthedRequest, project_id: int) -> HttpResponse:
    """The review queue: submitted images, longest waiting first."""
    access = project_access(request.user, project_id, Ability.REVIEW)
    context = {"access": access, "project": access.project, "images": review_queue(project_id)}
    return render(request, "labeling/review.html", context)
