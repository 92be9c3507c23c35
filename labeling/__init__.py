"""Anymask's Django project and app (see labeling/README.md for its rooms)."""

# Importing the Celery app here makes `@shared_task` bind to it in every process.
from labeling.celery_app import app as celery_app

__all__ = ["celery_app"]
