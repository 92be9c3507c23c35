"""The labeling page, the image as the browser shows it, and moving between images.

The page itself talks to the server over the websocket (`labeling.realtime`); these
views only render it and serve what it loads.
"""

from __future__ import annotations

import io
import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from labeling.imaging import CONTENT_TYPE_FOR_FORMAT, display_png, shown_as_stored
from labeling.models import Image, LabelingStatus
from labeling.permissions import Ability, project_access
from labeling.services import concepts
from labeling.services.claims import do_claim_next, do_claim_opened
from labeling.services.history import image_history
from labeling.services.model_status import status_of
from labeling.storage import open_stream
from labeling.storage.serving import StoredFileResponse, stored_file_response
from labeling.views import AuthedRequest, login_required_json

logger = logging.getLogger(__name__)
# The display check reads this much of an original first (its header is at the start).
HEADER_BYTES = 1024 * 1024

NEIGHBOURS = ("prev", "next", "next-unlabeled")


@login_required
@require_GET
def label_page(request: AuthedRequest, project_id: int, image_id: int) -> HttpResponse:
    access = project_access(request.user, project_id)
    image = get_object_or_404(Image, project=access.project, pk=image_id)
    can_annotate = access.can(Ability.ANNOTATE)
    # Opening an image claims it for an annotator, unless somebody else holds it.
    holder = do_claim_opened(image, request.user) if can_annotate else None
    context = {
        "access": access,
        "project": access.project,
        "image": image,
        "can_annotate": can_annotate,
        "claimed_by_other": holder,
        "ws_path": f"/ws/images/{image.pk}/",
        "go": {
            which.replace("-", "_"): reverse("label-go", args=[project_id, image.pk, which])
            for which in NEIGHBOURS
        },
        "submit_url": reverse("image-submit", args=[project_id, image.pk]),
        "history_url": reverse("image-history", args=[project_id, image.pk]),
        "can_review": access.can(Ability.REVIEW)
        and image.labeling_status == LabelingStatus.SUBMITTED,
        "review_url": reverse("image-review", args=[project_id, image.pk]),
        "model": status_of(access.project.model_spec),
        # The Find box, or why there is none and the fix (labeling/_label_find.html).
        "concepts": concepts.availability(access.project),
    }
    return render(request, "labeling/label.html", context)


@login_required
@require_GET
def label_go(request: AuthedRequest, project_id: int, image_id: int, which: str) -> HttpResponse:
    """Redirect to the previous, next or next unlabeled image (by id order), decided
    now rather than when the page was rendered, since others label concurrently."""
    access = project_access(request.user, project_id)
    if which not in NEIGHBOURS:
        raise Http404("No such direction.")
    images = Image.objects.filter(project=access.project)
    target: Image | None
    if which == "prev":
        target = images.filter(pk__lt=image_id).order_by("-pk").first()
    elif which == "next":
        target = images.filter(pk__gt=image_id).order_by("pk").first()
    elif access.can(Ability.ANNOTATE):
        # The work queue: an unlabeled image nobody else is working on, claimed now.
        target = do_claim_next(access.project, request.user, after=image_id)
    else:
        unlabeled = images.filter(labeling_status=LabelingStatus.UNLABELED).exclude(pk=image_id)
        # Wrap around: images before this one may still be unlabeled.
        target = unlabeled.filter(pk__gt=image_id).order_by("pk").first() or (
            unlabeled.order_by("pk").first()
        )
    if target is not None:
        return redirect("label-page", project_id=project_id, image_id=target.pk)
    if which == "next-unlabeled":
        messages.success(request, "Every image in this project has masks. Nothing left unlabeled.")
        return redirect("project-detail", project_id=project_id)
    messages.info(request, f"This is the {'first' if which == 'prev' else 'last'} image.")
    return redirect("label-page", project_id=project_id, image_id=image_id)


@login_required_json
@require_GET
def image_history_json(request: AuthedRequest, project_id: int, image_id: int) -> JsonResponse:
    """The image's mask history, newest first, for the labeling page's History panel."""
    access = project_access(request.user, project_id)
    image = get_object_or_404(Image, project=access.project, pk=image_id)
    return JsonResponse({"history": image_history(image)})


@login_required
@require_GET
def label_start(request: AuthedRequest, project_id: int) -> HttpResponseRedirect:
    """The project's first unlabeled image nobody else is working on (claimed for an
    annotator), or its first image if all are labeled."""
    access = project_access(request.user, project_id)
    images = Image.objects.filter(project=access.project).order_by("pk")
    if access.can(Ability.ANNOTATE):
        target = do_claim_next(access.project, request.user) or images.first()
    else:
        target = images.filter(labeling_status=LabelingStatus.UNLABELED).first() or images.first()
    if target is None:
        messages.info(request, "Upload images before labeling.")
        return redirect("project-detail", project_id=project_id)
    return redirect("label-page", project_id=project_id, image_id=target.pk)


@login_required
@require_GET
def image_display(request: AuthedRequest, project_id: int, image_id: int) -> StoredFileResponse:
    """The image as the labeling canvas draws it: the original when a browser shows
    it exactly as the server sees it, else a PNG converted once and kept in storage.

    Mask coordinates are for the EXIF-rotated image, so a rotated original is always
    converted with the rotation applied: the canvas then never depends on how a
    browser treats EXIF.
    """
    access = project_access(request.user, project_id)
    image = get_object_or_404(Image, project=access.project, pk=image_id)
    name = image.file.name
    if not name or not default_storage.exists(name):
        raise Http404("The file is missing from storage.")
    # A display copy exists only for an image that needs one (the verdict depends on
    # the content alone): found, it is served without looking at the original.
    key = f"projects/{image.project_id}/display/{image.sha256}.png"
    if default_storage.exists(key):
        return _file_response(key, "image/png")
    if _browser_ready(image, name):
        content_type = CONTENT_TYPE_FOR_FORMAT.get(image.format, "application/octet-stream")
        return _file_response(name, content_type)
    _convert(name, key)
    return _file_response(key, "image/png")


def _browser_ready(image: Image, name: str) -> bool:
    """Whether the original can be shown as stored, judged from its header: on object
    storage only the first MiB is fetched, unless the header runs past it."""
    try:
        with open_stream(name) as stream:
            head = stream.read(HEADER_BYTES)
        try:
            return shown_as_stored(io.BytesIO(head), image.format)
        except Exception:
            if len(head) < HEADER_BYTES:
                raise  # that was the whole file
        with default_storage.open(name, "rb") as fp:
            return shown_as_stored(fp, image.format)
    except Exception:  # unreadable now: let the converter report it
        logger.warning("could not inspect image %s for display", image.pk, exc_info=True)
        return False


def _convert(name: str, key: str) -> None:
    with default_storage.open(name, "rb") as fp:
        converted = display_png(fp)
    if not default_storage.exists(key):  # another request may have finished first
        saved = default_storage.save(key, ContentFile(converted))
        if saved != key:  # lost a race after all: keep the first copy
            default_storage.delete(saved)


def _file_response(name: str, content_type: str) -> StoredFileResponse:
    # Content-addressed and private to project members.
    return stored_file_response(name, content_type, cache_seconds=86400)
