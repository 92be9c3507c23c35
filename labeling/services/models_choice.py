"""Which SAM models a project may use, and switching a project to another one."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from labeling.models import EmbeddingStatus, Image, Project
from labeling.services.errors import ServiceError
from labeling.tasks import queue_embeddings_on_commit


def allowed_model_specs() -> list[str]:
    from inference import SPECS

    specs = [settings.ANYMASK_MODEL, *SPECS, *settings.ANYMASK_EXTRA_MODELS]
    return list(dict.fromkeys(specs))  # de-duplicated, order kept


def check_model_spec(spec: str) -> str:
    spec = spec.strip()
    if spec not in allowed_model_specs():
        raise ServiceError(
            f"{spec!r} is not one of this server's models. Ask the site operator to add it "
            "to ANYMASK_EXTRA_MODELS.",
            field="model_spec",
        )
    return spec


@transaction.atomic
def do_update_project(project: Project, *, name: str, description: str, model_spec: str) -> int:
    """Save project settings. A new model re-queues every image's embedding; returns
    how many were queued."""
    spec = check_model_spec(model_spec)
    locked = Project.objects.select_for_update().get(pk=project.pk)
    model_changed = spec != locked.model_spec
    locked.name, locked.description, locked.model_spec = name.strip(), description.strip(), spec
    locked.full_clean()
    locked.save()
    project.refresh_from_db()
    if not model_changed:
        return 0
    images = Image.objects.filter(project=project)
    ids = list(images.values_list("id", flat=True))
    images.update(
        embedding_status=EmbeddingStatus.PENDING, embedding_error="", embedding_attempts=0
    )
    queue_embeddings_on_commit(ids)
    return len(ids)
