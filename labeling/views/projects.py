from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from labeling.forms import ProjectForm
from labeling.models import Image, Project
from labeling.permissions import Ability, project_access
from labeling.services.claims import live_claims
from labeling.services.dashboard import annotator_stats, progress
from labeling.services.errors import ServiceError
from labeling.services.model_status import status_of
from labeling.services.presence import viewers_of
from labeling.services.projects import (
    can_create_projects,
    check_can_create_projects,
    do_create_project,
    do_update_project,
    project_counts,
    projects_for,
)
from labeling.services.proposals import job_json
from labeling.views import AuthedRequest, login_required_json


@login_required
@require_GET
def project_list(request: AuthedRequest) -> HttpResponse:
    context = {
        "projects": projects_for(request.user),
        "can_create": can_create_projects(request.user),
    }
    return render(request, "labeling/project_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request: AuthedRequest) -> HttpResponse:
    check_can_create_projects(request.user)  # 403 with the reason, for GET and POST
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = do_create_project(request.user, **form.cleaned_data)
        return redirect("project-detail", project_id=project.pk)
    return render(request, "labeling/project_form.html", {"form": form})


@login_required
@require_GET
def project_detail(request: AuthedRequest, project_id: int) -> HttpResponse:
    access = project_access(request.user, project_id)
    page = _image_page(access.project, request.GET.get("page"))
    claims = live_claims(access.project, [image.pk for image in page])
    viewing = viewers_of([image.pk for image in page])
    for image in page:
        image.claimed_name = claims.get(image.pk)  # type: ignore[attr-defined]
        image.viewers = ", ".join(viewing.get(image.pk, []))  # type: ignore[attr-defined]
    context = {
        "access": access,
        "project": access.project,
        "page": page,
        "jobs": [job_json(j) for j in access.project.proposal_jobs.all()[:3]],
        "images": page.object_list,
        "counts": project_counts(access.project),
        "model": status_of(access.project.model_spec),
    }
    return render(request, "labeling/project_detail.html", context)


IMAGES_PER_PAGE = 120


def _image_page(project: Project, number: str | None) -> Page[Image]:
    images = Image.objects.filter(project=project).order_by("id")
    return Paginator(images, IMAGES_PER_PAGE).get_page(number)


@login_required_json
@require_GET
def project_status(request: AuthedRequest, project_id: int) -> JsonResponse:
    """Counts and per-image statuses; the project page polls this to stay current."""
    access = project_access(request.user, project_id)
    page = _image_page(access.project, request.GET.get("page"))
    ids = [image.pk for image in page]
    rows = Image.objects.filter(pk__in=ids).values_list(
        "id", "labeling_status", "embedding_status", "embedding_error"
    )
    claims = live_claims(access.project, ids)
    viewing = viewers_of(ids)
    return JsonResponse(
        {
            "counts": project_counts(access.project),
            "images": [
                {
                    "id": pk,
                    "labeling": lab,
                    "embedding": emb,
                    "embedding_error": err,
                    "claimed_by": claims.get(pk),
                    "viewers": viewing.get(pk, []),
                }
                for pk, lab, emb, err in rows
            ],
            "upload_url": reverse("image-upload", args=[project_id]),
            "proposal_jobs": [job_json(j) for j in access.project.proposal_jobs.all()[:3]],
            "model": status_of(access.project.model_spec),
        }
    )


@login_required_json
@require_GET
def project_model_status(request: AuthedRequest, project_id: int) -> JsonResponse:
    """Where the project's model stands (the labeling page polls it)."""
    access = project_access(request.user, project_id)
    return JsonResponse(status_of(access.project.model_spec))


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: AuthedRequest, project_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    form = ProjectForm(request.POST or None, instance=access.project)
    if request.method == "POST" and form.is_valid():
        try:
            queued = do_update_project(access.project, **form.cleaned_data)
        except ServiceError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            note = f" Re-encoding {queued} image(s) with the new model." if queued else ""
            messages.success(request, f"Settings saved.{note}")
            return redirect("project-settings", project_id=project_id)
    context = {"access": access, "project": access.project, "form": form}
    status = 400 if form.errors else 200
    return render(request, "labeling/project_settings.html", context, status=status)


@login_required
@require_GET
def project_dashboard(request: AuthedRequest, project_id: int) -> HttpResponse:
    """Progress and per-annotator figures, for reviewers and admins."""
    access = project_access(request.user, project_id, Ability.REVIEW)
    context = {
        "access": access,
        "project": access.project,
        "progress": progress(access.project),
        "annotators": annotator_stats(access.project),
    }
    return render(request, "labeling/dashboard.html", context)
