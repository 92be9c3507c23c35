"""Anymask's Django project and app: models, services, views, tasks and consumers."""

# Importing the Celery app here makes `@shared_task` bind to it in every process.
from labeling.celery_app import app as celery_app

__all__ = ["celery_app"]
