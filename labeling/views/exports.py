"""COCO exports in the web UI: start one, watch its progress, download it, delete it."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from labeling.models import AnnotationStatus, Export, JobStatus, SegmentationFormat
from labeling.permissions import Ability, project_access
from labeling.services.errors import ServiceError
from labeling.services.exports import (
    DEFAULT_STATUSES,
    check_export_options,
    do_delete_export,
    do_start_export,
    download_name,
    export_json,
)
from labeling.services.imports import do_start_import, import_json
from labeling.views import AuthedRequest

LISTED = 50  # past exports shown on the page, newest first


@login_required
@require_http_methods(["GET", "POST"])
def exports(request: AuthedRequest, project_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    error = None
    chosen: list[str] = [str(s) for s in DEFAULT_STATUSES]
    if request.method == "POST":
        chosen = request.POST.getlist("statuses")
        try:
            options = check_export_options(
                chosen,
                request.POST.get("segmentation"),
                request.POST.get("include_empty") == "on",
                request.POST.get("with_images") == "on",
            )
        except ServiceError as refused:
            error = refused.message
        else:
            do_start_export(access.project, request.user, options)
            messages.success(request, "Export started; it appears below with its progress.")
            return redirect("project-exports", project_id=project_id)
    context = {
        "access": access,
        "project": access.project,
        "statuses": AnnotationStatus.choices,
        "chosen": chosen,
        "formats": SegmentationFormat.choices,
        "exports": [export_json(e) for e in access.project.exports.all()[:LISTED]],
        "imports": [import_json(i) for i in access.project.imports.all()[:LISTED]],
        "error": error,
        "max_import_mib": settings.ANYMASK_IMPORT_MAX_BYTES // 2**20,
    }
    return render(request, "labeling/exports.html", context, status=400 if error else 200)


@login_required
@require_GET
def exports_status(request: AuthedRequest, project_id: int) -> JsonResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    rows = access.project.exports.select_related("created_by")[:LISTED]
    imports = access.project.imports.select_related("created_by")[:LISTED]
    return JsonResponse(
        {"exports": [export_json(e) for e in rows], "imports": [import_json(i) for i in imports]}
    )


@login_required
@require_POST
def imports(request: AuthedRequest, project_id: int) -> HttpResponse:
    """Upload a COCO file to import; it is checked and imported in the background."""
    access = project_access(request.user, project_id, Ability.MANAGE)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a COCO JSON file to import.")
        return redirect("project-exports", project_id=project_id)
    try:
        do_start_import(
            access.project,
            request.user,
            upload,
            upload.name or "coco.json",
            request.POST.get("create_categories") == "on",
            ground_truth=request.POST.get("ground_truth") == "on",
        )
    except ServiceError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(
            request, "Import queued: the file is checked in full before anything is written."
        )
    return redirect("project-exports", project_id=project_id)


@login_required
@require_GET
def export_download(request: AuthedRequest, project_id: int, export_id: int) -> FileResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    # Filtered by project: another project's export id is a 404 like a missing one.
    export = Export.objects.filter(pk=export_id, project=access.project).first()
    if export is None or export.status != JobStatus.DONE or not export.file:
        raise Http404("No such export.")
    return FileResponse(
        default_storage.open(export.file, "rb"),
        as_attachment=True,
        filename=download_name(export),
    )


@login_required
@require_POST
def export_delete(request: AuthedRequest, project_id: int, export_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    try:
        do_delete_export(access.project, export_id)
    except ServiceError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, "Export deleted, with its file.")
    return redirect("project-exports", project_id=project_id)
