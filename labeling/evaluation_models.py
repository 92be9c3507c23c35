"""The evaluator's rows: one `EvaluationRun` per evaluation of a project's model.

A run plays the standard interactive-segmentation protocol (RITM clicks, 20 per
object) against the project's masks with one model: the base model (`version`
null) or one of the project's fine-tuned versions. It keeps the spec it ran, the
summary figures, a per-category breakdown and the worst instances, so two runs
(say, base and a tuned version) can be put side by side.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from labeling.model_versions import ModelVersion
from labeling.models import Job, Project


class EvaluationMasks(models.TextChoices):
    """Which masks are the ground truth of a run."""

    APPROVED = "approved", "Approved masks"
    SUBMITTED = "submitted", "Submitted and approved masks"
    GROUND_TRUTH = "ground_truth", "Imported ground-truth set"


class EvaluationSplit(models.TextChoices):
    HOLDOUT = "holdout", "Held-out images (20%)"
    ALL = "all", "All images"


class EvaluationRun(Job):
    """One evaluation: its options, progress in instances (`done` of `total`), and
    its results once done."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="evaluations")
    # Null: the base model. SET_NULL would silently turn a tuned run into a "base"
    # one; a deleted version takes its runs with it.
    version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="evaluations"
    )
    # The base model spec the run used (the version's decoder sits on top of it).
    spec = models.CharField(max_length=500)
    masks = models.CharField(
        max_length=16, choices=EvaluationMasks.choices, default=EvaluationMasks.APPROVED
    )
    split = models.CharField(
        max_length=8, choices=EvaluationSplit.choices, default=EvaluationSplit.HOLDOUT
    )
    # At most this many instances (the first by id), null for all of them.
    limit = models.PositiveIntegerField(null=True, blank=True)
    max_clicks = models.PositiveSmallIntegerField(default=20)
    # inference.evaluation.summarize's figures, plus the mean IoU after each click.
    metrics = models.JSONField(default=dict, blank=True)
    # {category name (or "(none)"): summarize figures}
    per_category = models.JSONField(default=dict, blank=True)
    # The worst instances, worst first: annotation and image ids, category, NoC@90, IoU@5.
    worst = models.JSONField(default=list, blank=True)
    clicks_per_second = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"evaluation {self.pk} of {self.project}"

    @property
    def model_label(self) -> str:
        """What the run evaluated, for people: "base" or "v3", with the spec."""
        which = f"v{self.version.number}" if self.version_id and self.version else "base"
        return f"{which} ({self.spec})"

    def version_number(self) -> int | None:
        return self.version.number if self.version_id and self.version else None

    def options_json(self) -> dict[str, Any]:
        return {
            "version": self.version_number(),
            "spec": self.spec,
            "masks": self.masks,
            "split": self.split,
            "limit": self.limit,
            "max_clicks": self.max_clicks,
        }
