"""The data engine's category classifier: one per project, where it stands.

The classifier itself (a logistic head, `inference.category_head`) is a JSON file in
media storage, named by `Project.category_head`. This row says how good it is (its
accuracy on the held-out images), what it learned from, and whether a retrain is
queued: at most one per project at a time (`pending`, set by a conditional update).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from labeling.models import Project


class CategoryClassifier(models.Model):
    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="category_classifier"
    )
    # Trainings stored so far; the file of training n is `heads/<project>/<n>.json`.
    version = models.PositiveIntegerField(default=0)
    # Share of the held-out images' masks it names right; null: no held-out masks yet.
    heldout_accuracy = models.FloatField(null=True, blank=True)
    train_masks = models.PositiveIntegerField(default=0)
    heldout_masks = models.PositiveIntegerField(default=0)
    # Per category: {"id", "name", "train", "heldout", "correct"} of the last training.
    categories = models.JSONField(default=list, blank=True)
    trained_at = models.DateTimeField(null=True, blank=True)
    # Approved masks with a category when the last training began: the next retrain
    # is due `ANYMASK_CLASSIFIER_RETRAIN_EVERY` approvals after this.
    approved_seen = models.PositiveIntegerField(default=0)
    # A retrain is queued or running; nobody queues another meanwhile.
    pending = models.BooleanField(default=False)
    requested_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Why the last training stored no classifier (too few categories, say).
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"category classifier of {self.project}"

    def summary_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "heldout_accuracy": self.heldout_accuracy,
            "train_masks": self.train_masks,
            "heldout_masks": self.heldout_masks,
            "categories": self.categories,
            "trained_at": self.trained_at.isoformat() if self.trained_at else None,
            "pending": self.pending,
            "requested_by": self.requested_by.username if self.requested_by else None,
            "error": self.error,
        }
