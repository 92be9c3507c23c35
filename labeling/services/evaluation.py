"""Model quality: evaluate a project's model by the standard interactive
segmentation protocol, and compare runs.

An admin starts a run (base model or a fine-tuned version; approved, submitted or
ground-truth masks; the held-out split or every image; optionally the first N
masks); it runs in the background (`labeling.jobs.evaluation`) with progress and
cancel. Admins and reviewers see the results and put two runs side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from labeling.evaluation_models import EvaluationMasks, EvaluationRun, EvaluationSplit
from labeling.model_versions import ModelVersion
from labeling.models import Project
from labeling.queueing import RUN_EVALUATION, enqueue_on_commit
from labeling.services.errors import ServiceError
from labeling.services.job_cancel import ACTIVE, do_cancel_job

MAX_LIMIT = 100_000
# The figures a comparison lists, with whether a higher value is better.
COMPARED: tuple[tuple[str, str, bool], ...] = (
    ("noc85", "NoC@85", False),
    ("noc90", "NoC@90", False),
    ("nof85", "NoF@85", False),
    ("nof90", "NoF@90", False),
    ("miou1", "mIoU@1", True),
    ("miou3", "mIoU@3", True),
    ("miou5", "mIoU@5", True),
    ("instances", "Instances", True),
)


NO_FIGURES: dict[str, Any] = {key: None for key, _, _ in COMPARED} | {"instances": 0}


@dataclass(frozen=True)
class EvaluationOptions:
    version: ModelVersion | None
    spec: str
    masks: str
    split: str
    limit: int | None


def check_evaluation_options(
    project: Project,
    version: Any = None,
    masks: Any = EvaluationMasks.APPROVED,
    split: Any = EvaluationSplit.HOLDOUT,
    limit: Any = None,
    spec: str | None = None,
) -> EvaluationOptions:
    """Validate a request. `version`: a version number of this project, or
    None/"" / "base" for the base model; `spec` (the command line only): another
    base model to evaluate instead of the project's."""
    # Left out (None or ""): the defaults, approved masks on the held-out images.
    masks = masks or EvaluationMasks.APPROVED
    split = split or EvaluationSplit.HOLDOUT
    chosen: ModelVersion | None = None
    if version not in (None, "", "base"):
        try:
            number = int(version)
        except (TypeError, ValueError):
            raise ServiceError(
                "The version is a version number or 'base'.", field="version"
            ) from None
        chosen = ModelVersion.objects.filter(project=project, number=number).first()
        if chosen is None:
            raise ServiceError(f"This project has no model version {number}.", field="version")
    if chosen is not None and spec:
        raise ServiceError("Give a version or a model spec, not both.")
    if masks not in EvaluationMasks.values:
        raise ServiceError(
            f"The masks are one of {', '.join(EvaluationMasks.values)}.", field="masks"
        )
    if split not in EvaluationSplit.values:
        raise ServiceError(
            f"The split is one of {', '.join(EvaluationSplit.values)}.", field="split"
        )
    if limit in (None, ""):
        limit = None
    else:
        try:
            limit = int(limit)
        except (TypeError, ValueError):
            raise ServiceError("The limit is a whole number.", field="limit") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise ServiceError(f"The limit is 1 to {MAX_LIMIT} masks.", field="limit")
    return EvaluationOptions(chosen, spec or project.model_spec, masks, split, limit)


def create_run(project: Project, user: Any, options: EvaluationOptions) -> EvaluationRun:
    return EvaluationRun.objects.create(
        project=project,
        created_by=user,
        version=options.version,
        spec=options.version.base_spec if options.version else options.spec,
        masks=options.masks,
        split=options.split,
        limit=options.limit,
        max_clicks=settings.ANYMASK_EVALUATION_MAX_CLICKS,
    )


def do_start_evaluation(project: Project, user: Any, options: EvaluationOptions) -> EvaluationRun:
    """Queue an evaluation run (one at a time per project: each one loads a model
    and decodes thousands of clicks)."""
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        if EvaluationRun.objects.filter(project=project, status__in=ACTIVE).exists():
            raise ServiceError(
                "An evaluation of this project is already running; wait or cancel it."
            )
        run = create_run(project, user, options)
        enqueue_on_commit(RUN_EVALUATION, run.pk)
    return run


def do_cancel_evaluation(project: Project, run_id: int) -> EvaluationRun:
    """Stop a queued or running run; a running one stops before its next image."""
    # No page nudge: the Model quality page polls while a run is going.
    return do_cancel_job(
        EvaluationRun, project, run_id, noun="evaluation", error="Canceled.", nudge=False
    )


def label_url(project_id: int, image_id: int, annotation_id: int) -> str:
    """The labeling page on an instance's image with its mask selected."""
    page = reverse("label-page", args=[project_id, image_id])
    return f"{page}?annotation={annotation_id}"


def run_json(run: EvaluationRun, *, details: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        **run.progress_json(),
        **run.origin_json(),
        **run.options_json(),
        "model": run.model_label,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        # Every figure present (None until the run is done), so pages show "—".
        "metrics": {**NO_FIGURES, **run.metrics},
        "clicks_per_second": run.clicks_per_second,
        "error": run.error,
    }
    if details:
        data["per_category"] = run.per_category
        data["worst"] = [
            {**row, "url": label_url(run.project_id, row["image"], row["annotation"])}
            for row in run.worst
        ]
    return data


def compare_runs(first: EvaluationRun, second: EvaluationRun) -> list[dict[str, Any]]:
    """The two runs' figures side by side, each with `second - first` and whether
    that change is an improvement (lower NoC / NoF, higher mIoU)."""
    rows = []
    for key, label, higher_is_better in COMPARED:
        a, b = first.metrics.get(key), second.metrics.get(key)
        delta = None if a is None or b is None else round(b - a, 4)
        better = None
        if delta and key != "instances":
            better = delta > 0 if higher_is_better else delta < 0
        rows.append({"key": key, "label": label, "a": a, "b": b, "delta": delta, "better": better})
    return rows
