from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from labeling.imaging import CONTENT_TYPE_FOR_FORMAT
from labeling.models import Image
from labeling.permissions import project_access
from labeling.views import AuthedRequest


def _image_for(request: AuthedRequest, project_id: int, image_id: int) -> Image:
    access = project_access(request.user, project_id)
    return get_object_or_404(Image, project=access.project, pk=image_id)


def _serve(name: str | None, content_type: str, download_name: str) -> FileResponse:
    if not name or not default_storage.exists(name):
        raise Http404("The file is missing from storage.")
    response = FileResponse(
        default_storage.open(name, "rb"), content_type=content_type, filename=download_name
    )
    # Files are immutable (named by content hash) but private to project members.
    response["Cache-Control"] = "private, max-age=86400"
    return response


@login_required
@require_GET
def image_file(request: AuthedRequest, project_id: int, image_id: int) -> FileResponse:
    image = _image_for(request, project_id, image_id)
    content_type = CONTENT_TYPE_FOR_FORMAT.get(image.format, "application/octet-stream")
    return _serve(image.file.name, content_type, image.original_name)


@login_required
@require_GET
def image_thumbnail(request: AuthedRequest, project_id: int, image_id: int) -> FileResponse:
    image = _image_for(request, project_id, image_id)
    return _serve(image.thumbnail.name, "image/jpeg", f"thumbnail-{image.pk}.jpg")
