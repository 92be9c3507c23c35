"""Evaluate a project's model by the standard interactive segmentation protocol.

    manage.py evaluate --project 3 [--model SPEC | --version 2] [--status approved]
                       [--split holdout|all] [--limit 500]

Runs here, in this process (no worker needed), records the run like one started on
the Model quality tab (it shows there), and prints its figures as one JSON line.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from labeling.evaluation_models import EvaluationMasks, EvaluationSplit
from labeling.jobs.evaluation import perform_evaluation
from labeling.models import JobStatus, Project
from labeling.services.errors import ServiceError
from labeling.services.evaluation import check_evaluation_options, create_run, run_json


class Command(BaseCommand):
    help = "Evaluate a model on a project's masks (RITM clicks; NoC@85/90, NoF, mIoU@k)."

    def add_base_argument(self, parser: Any, *args: Any, **kwargs: Any) -> None:
        # `--version` names a model version here, not Django's version.
        if "--version" not in args:
            super().add_base_argument(parser, *args, **kwargs)

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--project", type=int, required=True, help="project id")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--model", help="a base model spec (default: the project's)")
        which.add_argument("--version", type=int, help="a fine-tuned version number")
        parser.add_argument(
            "--status",
            choices=EvaluationMasks.values,
            default=EvaluationMasks.APPROVED,
            help="ground truth: approved masks, submitted and approved, or an imported set",
        )
        parser.add_argument(
            "--split", choices=EvaluationSplit.values, default=EvaluationSplit.HOLDOUT
        )
        parser.add_argument("--limit", type=int, help="at most this many masks (the first by id)")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(pk=options["project"]).first()
        if project is None:
            raise CommandError(f"No project {options['project']}.")
        try:
            checked = check_evaluation_options(
                project,
                version=options["version"],
                masks=options["status"],
                split=options["split"],
                limit=options["limit"],
                spec=options["model"],
            )
        except ServiceError as refused:
            raise CommandError(refused.message) from None
        run = create_run(project, None, checked)
        self.stderr.write(f"Evaluating {run.model_label} on project {project.pk} (run {run.pk})…")
        outcome = perform_evaluation(run.pk)
        run.refresh_from_db()
        if run.status != JobStatus.DONE:
            raise CommandError(f"Evaluation {outcome}: {run.error}")
        data = run_json(run, details=False)
        self.stdout.write(
            json.dumps(
                {
                    "run": run.pk,
                    "model": data["model"],
                    **data["metrics"],
                    "clicks_per_second": run.clicks_per_second,
                }
            )
        )
