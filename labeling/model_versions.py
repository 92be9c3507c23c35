"""The data engine's model versions: a project's fine-tuned mask decoders.

Only SAM's mask decoder is ever tuned (the image encoder stays frozen), so a version
is a small safetensors file of decoder weights in media storage, on top of the
project's base model (`Project.model_spec`). Stored embeddings stay valid for every
version, so adopting or rolling back needs no re-encode.

"No version" means the base model. `Project.adopted_version` names the version that
clicks, proposals, imports and the evaluator use.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from labeling.models import Job, Project


class ModelVersion(models.Model):
    """One fine-tuned decoder of a project, numbered 1, 2, … in the order made."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    number = models.PositiveIntegerField()
    # The base model spec the decoder was tuned on; a version only loads on that base.
    base_spec = models.CharField(max_length=500)
    # Storage name of the decoder weights (safetensors).
    decoder_file = models.CharField(max_length=500)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The gate's figures on the held-out split, base against tuned, and the training
    # settings: what the admin sees before adopting.
    metrics = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["project", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "number"], name="model_version_number_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project} v{self.number}"

    def summary_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "base_spec": self.base_spec,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by.username if self.created_by else None,
            "metrics": self.metrics,
        }


class TrainingJob(Job):
    """One fine-tuning run of a project's mask decoder (labeling/jobs/training.py).

    `done` / `total` count training steps. At most one job of a project runs at a
    time (a partial unique index, so the database itself refuses a second); a job
    whose turn has not come stays queued with `waiting` set.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_jobs")
    seed = models.PositiveIntegerField(default=0)
    time_budget_seconds = models.PositiveIntegerField()
    max_steps = models.PositiveIntegerField()
    waiting = models.BooleanField(default=False)
    phase = models.CharField(max_length=20, blank=True)  # training, evaluating
    loss = models.FloatField(null=True, blank=True)
    remaining_seconds = models.FloatField(null=True, blank=True)
    # The gate's figures (base and tuned on the held-out split) and the run's summary,
    # kept whether or not the tuned decoder was good enough to keep.
    metrics = models.JSONField(default=dict, blank=True)
    version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True)

    class Meta(Job.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(status="running"),
                name="one_running_training_per_project",
            )
        ]

    def __str__(self) -> str:
        return f"training {self.pk} for {self.project}"
