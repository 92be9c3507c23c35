from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from labeling.imaging import CONTENT_TYPE_FOR_FORMAT
from labeling.models import Image
from labeling.permissions import project_access
from labeling.storage.serving import StoredFileResponse, stored_file_response
from labeling.views import AuthedRequest

CACHE_SECONDS = 86400


def _image_for(request: AuthedRequest, project_id: int, image_id: int) -> Image:
    access = project_access(request.user, project_id)
    return get_object_or_404(Image, project=access.project, pk=image_id)


def _serve(name: str | None, content_type: str, download_name: str) -> StoredFileResponse:
    # Files are immutable (named by content hash) but private to project members.
    return stored_file_response(
        name, content_type, filename=download_name, cache_seconds=CACHE_SECONDS
    )


@login_required
@require_GET
def image_file(request: AuthedRequest, project_id: int, image_id: int) -> StoredFileResponse:
    image = _image_for(request, project_id, image_id)
    content_type = CONTENT_TYPE_FOR_FORMAT.get(image.format, "application/octet-stream")
    return _serve(image.file.name, content_type, image.original_name)


@login_required
@require_GET
def image_thumbnail(request: AuthedRequest, project_id: int, image_id: int) -> StoredFileResponse:
    image = _image_for(request, project_id, image_id)
    return _serve(image.thumbnail.name, "image/jpeg", f"thumbnail-{image.pk}.jpg")
