"""The Celery application, configured from Django settings (CELERY_* names)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labeling.settings")

app = Celery("anymask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["labeling"])

# Every task's duration, per kind (labeling/job_metrics.py): imported for its signals.
from labeling import job_metrics  # noqa: E402, F401
