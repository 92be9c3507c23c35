from __future__ import annotations

from dataclasses import replace

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from labeling.forms import ProjectForm
from labeling.models import EmbeddingStatus, LabelingStatus
from labeling.permissions import Ability, project_access
from labeling.services.claims import live_claims
from labeling.services.classifier import classifier_json
from labeling.services.concepts import availability as concept_availability
from labeling.services.concepts import job_json as concept_job_json
from labeling.services.dashboard import annotator_stats, origin_stats, progress
from labeling.services.embedding_progress import embedding_progress
from labeling.services.errors import ServiceError
from labeling.services.image_grid import (
    DEFAULT_PER_PAGE,
    PER_PAGE_CHOICES,
    SORT_LABELS,
    assignee_choices,
    check_grid_query,
    grid_page,
    grid_tiles,
)
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
from labeling.views.tile_markup import tiles_html
from labeling.wording import plural


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
    try:
        query = check_grid_query(request.GET)
    except ServiceError as error:
        return HttpResponseBadRequest(error.message, content_type="text/plain; charset=utf-8")
    page = grid_page(access.project, request.user, query)
    ids = [image.pk for image in page]
    claims = live_claims(access.project, ids)
    viewing = viewers_of(ids)
    model = status_of(access.project.model_spec)
    model_waiting = model["state"] in MODEL_WAIT_STATES
    counts = project_counts(access.project)
    here = replace(query, page=page.number)  # past the end, the last page
    tiles = grid_tiles(page, claims, viewing, model_waiting)
    context = {
        "access": access,
        "project": access.project,
        "page": page,
        "grid": here,
        "status_query": here.query_string(),
        "prev_query": here.query_string(page.number - 1) if page.has_previous() else "",
        "next_query": here.query_string(page.number + 1) if page.has_next() else "",
        "labeling_choices": LabelingStatus.choices,
        "embedding_choices": EmbeddingStatus.choices,
        "sort_choices": list(SORT_LABELS.items()),
        "default_per": DEFAULT_PER_PAGE,
        "clear_query": replace(here, labeling="", embedding="", assignee="", page=1).query_string(),
        "per_choices": sorted({*PER_PAGE_CHOICES, here.per}),
        "assignees": assignee_choices(access.project),
        "jobs": [job_json(j) for j in access.project.proposal_jobs.all()[:3]],
        "concept_jobs": [concept_job_json(j) for j in access.project.concept_jobs.all()[:3]],
        "concepts": concept_availability(access.project),
        "categories": list(access.project.categories.all()),
        "can_pick": access.role == "admin",
        "images": bool(tiles),
        "tiles_html": tiles_html(tiles, can_pick=access.role == "admin"),
        "counts": counts,
        "embedding": embedding_progress(access.project, counts, model_waiting),
        "model": model,
    }
    return render(request, "labeling/project_detail.html", context)


# The model states in which pending images wait for the model, not for a worker.
MODEL_WAIT_STATES = ("downloading", "loading")


@login_required_json
@require_GET
def project_status(request: AuthedRequest, project_id: int) -> JsonResponse:
    """Counts and the statuses of one grid page (the page's own filters and number);
    the project page polls this to stay current, so it costs what a page costs."""
    access = project_access(request.user, project_id)
    try:
        query = check_grid_query(request.GET)
    except ServiceError as error:
        return JsonResponse({"error": error.message}, status=400)
    page = grid_page(access.project, request.user, query)
    ids = [image.pk for image in page]
    claims = live_claims(access.project, ids)
    viewing = viewers_of(ids)
    model = status_of(access.project.model_spec)
    counts = project_counts(access.project)
    embedding = embedding_progress(access.project, counts, model["state"] in MODEL_WAIT_STATES)
    return JsonResponse(
        {
            "counts": counts,
            "embedding_progress": embedding.as_json(),
            "page": {
                "number": page.number,
                "pages": page.paginator.num_pages,
                "matching": page.paginator.count,
            },
            "images": [
                {
                    "id": image.pk,
                    "labeling": image.labeling_status,
                    "embedding": image.embedding_status,
                    "embedding_error": image.embedding_error,
                    "claimed_by": claims.get(image.pk),
                    "viewers": viewing.get(image.pk, []),
                }
                for image in page
            ],
            "upload_url": reverse("image-upload", args=[project_id]),
            "proposal_jobs": [job_json(j) for j in access.project.proposal_jobs.all()[:3]],
            "concept_jobs": [concept_job_json(j) for j in access.project.concept_jobs.all()[:3]],
            "model": model,
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
            note = f" Re-encoding {plural(queued, 'image')} with the new model." if queued else ""
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
        "origins": origin_stats(access.project),
        "classifier": classifier_json(access.project),
    }
    return render(request, "labeling/dashboard.html", context)
