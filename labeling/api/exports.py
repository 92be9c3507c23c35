"""COCO exports: start one, poll its progress, download the file, delete it (admins
only)."""

from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from ninja.pagination import paginate

from labeling.api.auth import user_of
from labeling.api.listing import refuse_unknown
from labeling.api.schemas import FAILS, ExportIn, ExportOut, PathId
from labeling.models import Export, JobStatus
from labeling.permissions import Ability, project_access
from labeling.services.exports import (
    check_export_options,
    do_delete_export,
    do_start_export,
    download_name,
)
from labeling.storage.serving import StoredFileResponse, stored_file_response

router = Router(tags=["exports"])


class NoFilters(Schema):
    """The export list takes only paging."""


@router.post("/projects/{project_id}/exports", response={202: ExportOut, **FAILS})
def start_export(request: HttpRequest, project_id: PathId, body: ExportIn) -> Status[Any]:
    """Queue a COCO export; poll it until `status` is done, then fetch `download_url`."""
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    options = check_export_options(
        body.statuses, body.segmentation, body.include_empty, body.with_images
    )
    return Status(202, do_start_export(access.project, user_of(request), options))


@router.get("/projects/{project_id}/exports", response={200: list[ExportOut], **FAILS})
@paginate
def list_exports(request: HttpRequest, project_id: PathId) -> QuerySet[Export]:
    """Past exports, newest first."""
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    refuse_unknown(request, NoFilters)
    return access.project.exports.select_related("created_by").order_by("-created_at", "-id")


@router.get("/projects/{project_id}/exports/{export_id}", response={200: ExportOut, **FAILS})
def get_export(request: HttpRequest, project_id: PathId, export_id: PathId) -> Export:
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    return get_object_or_404(
        Export.objects.select_related("created_by"), project=access.project, pk=export_id
    )


@router.get(
    "/projects/{project_id}/exports/{export_id}/download",
    response={200: None, **FAILS},
    url_name="download_export",
)
def download_export(
    request: HttpRequest, project_id: PathId, export_id: PathId
) -> StoredFileResponse:
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    export = get_object_or_404(Export, project=access.project, pk=export_id)
    if export.status != JobStatus.DONE or not export.file:
        raise Http404("This export has no file yet; poll it until its status is done.")
    return stored_file_response(
        export.file, None, as_attachment=True, filename=download_name(export)
    )


@router.delete("/projects/{project_id}/exports/{export_id}", response={204: None, **FAILS})
def delete_export(request: HttpRequest, project_id: PathId, export_id: PathId) -> Status[None]:
    """Delete an export and its file (a running one too: its result is then thrown away)."""
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    get_object_or_404(Export, project=access.project, pk=export_id)
    do_delete_export(access.project, export_id)
    return Status(204, None)
