"""The Model quality tab: evaluation runs of the project's models, one run's
figures (per category, worst instances), and two runs side by side."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from labeling.evaluation_models import EvaluationMasks, EvaluationRun, EvaluationSplit
from labeling.permissions import Ability, project_access
from labeling.services.classifier import classifier_json
from labeling.services.errors import ServiceError
from labeling.services.evaluation import (
    check_evaluation_options,
    compare_runs,
    do_cancel_evaluation,
    do_start_evaluation,
    run_json,
)
from labeling.views import AuthedRequest

LISTED = 50  # runs shown, newest first


def _run(project_id: int, value: str | None) -> EvaluationRun | None:
    if not value or not value.isdigit() or len(value) > 18:
        return None
    return (
        EvaluationRun.objects.select_related("version", "created_by")
        .filter(project_id=project_id, pk=int(value))
        .first()
    )


@login_required
@require_http_methods(["GET", "POST"])
def quality(request: AuthedRequest, project_id: int) -> HttpResponse:
    if request.method == "POST":
        access = project_access(request.user, project_id, Ability.MANAGE)
        try:
            options = check_evaluation_options(
                access.project,
                version=request.POST.get("version"),
                masks=request.POST.get("masks"),
                split=request.POST.get("split"),
                limit=request.POST.get("limit"),
            )
            run = do_start_evaluation(access.project, request.user, options)
        except ServiceError as refused:
            messages.error(request, refused.message)
        else:
            messages.success(request, f"Evaluation {run.pk} of {run.model_label} started.")
        return redirect("project-quality", project_id=project_id)
    access = project_access(request.user, project_id, Ability.VIEW_QUALITY)
    runs = access.project.evaluations.select_related("version", "created_by")[:LISTED]
    shown = _run(project_id, request.GET.get("run"))
    first, second = _run(project_id, request.GET.get("a")), _run(project_id, request.GET.get("b"))
    comparison = None
    if first and second:
        comparison = {
            "a": run_json(first, details=False),
            "b": run_json(second, details=False),
            "rows": compare_runs(first, second),
        }
    context = {
        "access": access,
        "project": access.project,
        "can_start": access.can(Ability.MANAGE),
        "runs": [run_json(r, details=False) for r in runs],
        "shown": run_json(shown) if shown else None,
        "comparison": comparison,
        "versions": access.project.model_versions.all(),
        "adopted": access.project.adopted_version_id,
        "mask_choices": EvaluationMasks.choices,
        "split_choices": EvaluationSplit.choices,
        "classifier": classifier_json(access.project),
    }
    return render(request, "labeling/quality.html", context)


@login_required
@require_GET
def quality_status(request: AuthedRequest, project_id: int) -> JsonResponse:
    access = project_access(request.user, project_id, Ability.VIEW_QUALITY)
    runs = access.project.evaluations.select_related("version", "created_by")[:LISTED]
    return JsonResponse({"runs": [run_json(r, details=False) for r in runs]})


@login_required
@require_POST
def quality_cancel(request: AuthedRequest, project_id: int, run_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    try:
        run = do_cancel_evaluation(access.project, run_id)
    except ServiceError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, f"Evaluation {run.pk} canceled.")
    return redirect("project-quality", project_id=project_id)
