from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from labeling.permissions import Ability, project_access
from labeling.services.uploads import UploadResult, do_add_uploads
from labeling.views import AuthedRequest, login_required_json


@login_required
@require_GET
def upload_page(request: AuthedRequest, project_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    context = {
        "access": access,
        "project": access.project,
        "max_upload_bytes": settings.ANYMASK_MAX_UPLOAD_BYTES,
    }
    return render(request, "labeling/upload.html", context)


@login_required_json
@require_POST
def upload(request: AuthedRequest, project_id: int) -> JsonResponse:
    """Accept one or more files (images or zips); report each file's fate as JSON."""
    access = project_access(request.user, project_id, Ability.MANAGE)
    limit = settings.ANYMASK_MAX_UPLOAD_BYTES
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if declared > limit:
        return JsonResponse(
            {"error": f"The upload is larger than the {limit / 2**20:.0f} MiB limit."}, status=413
        )
    files = request.FILES.getlist("files")
    if not files:
        return JsonResponse({"error": "Choose at least one file to upload."}, status=400)
    results = do_add_uploads(access.project, request.user, files)
    return JsonResponse({"results": [_as_json(project_id, r) for r in results]})


def _as_json(project_id: int, result: UploadResult) -> dict[str, object]:
    data: dict[str, object] = {
        "name": result.name,
        "status": result.status,
        "reason": result.reason,
    }
    if result.image is not None:
        data["image"] = {
            "id": result.image.pk,
            "width": result.image.width,
            "height": result.image.height,
            "thumbnail_url": reverse("image-thumbnail", args=[project_id, result.image.pk]),
        }
    return data
