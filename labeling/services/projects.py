"""Projects: create one, change its settings (a new model re-encodes its images),
which models it may use, and the figures its pages show."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from inference import canonical_spec
from labeling.image_tallies import tallies
from labeling.models import EmbeddingStatus, Image, LabelingStatus, Membership, Project, Role
from labeling.queueing import COMPUTE_EMBEDDING, enqueue_many_on_commit
from labeling.services.errors import ServiceError


def allowed_model_specs() -> list[str]:
    """The specs projects may use (settings.ANYMASK_MODELS and friends), in order."""
    specs = [
        settings.ANYMASK_MODEL,
        *settings.ANYMASK_MODELS,
        *settings.ANYMASK_EXTRA_MODELS,
    ]
    return list(dict.fromkeys(canonical_spec(spec) for spec in specs if spec.strip()))


def check_model_spec(spec: str, *, current: str | None = None) -> str:
    """`spec`, canonical, if projects may use it; a project's `current` model stays
    allowed for that project even after the operator removed it from the list."""
    spec = canonical_spec(spec)
    if spec not in allowed_model_specs() and spec != current:
        raise ServiceError(
            f"{spec!r} is not one of this server's models. Ask the site operator to add it "
            "to ANYMASK_MODELS.",
            field="model_spec",
        )
    return spec


def can_create_projects(user: User) -> bool:
    """settings.ANYMASK_PROJECT_CREATORS: staff always; listed usernames; "*": anyone."""
    if not user.is_authenticated or not user.is_active:
        return False
    creators = settings.ANYMASK_PROJECT_CREATORS
    return user.is_staff or user.is_superuser or "*" in creators or user.username in creators


def check_can_create_projects(user: User) -> None:
    if not can_create_projects(user):
        raise PermissionDenied(
            "Only site staff may create projects here. Ask the site operator to add your "
            "username to ANYMASK_PROJECT_CREATORS."
        )


@transaction.atomic
def do_create_project(
    user: User, *, name: str, description: str = "", model_spec: str = ""
) -> Project:
    """Create a project; its creator becomes its first admin. Entry points that act for
    a user check `check_can_create_projects` first (operator commands need not)."""
    project = Project(name=name.strip(), description=description.strip(), created_by=user)
    if model_spec:
        project.model_spec = check_model_spec(model_spec)
    project.full_clean()
    project.save()
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    return project


@transaction.atomic
def do_update_project(project: Project, *, name: str, description: str, model_spec: str) -> int:
    """Save project settings. A new model re-queues every image's embedding; returns
    how many were queued."""
    locked = Project.objects.select_for_update().get(pk=project.pk)
    spec = check_model_spec(model_spec, current=locked.model_spec)
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
        embedding_status=EmbeddingStatus.PENDING,
        embedding_error="",
        embedding_attempts=0,
        embedding_queued_at=timezone.now(),
        embedded_at=None,  # the old model's finish times would skew the time left
    )
    enqueue_many_on_commit(COMPUTE_EMBEDDING, [(image_id,) for image_id in ids])
    return len(ids)


def projects_for(user: User) -> list[tuple[Project, str]]:
    """The projects a user belongs to, each with the user's role."""
    memberships = (
        Membership.objects.filter(user_id=user.pk)
        .select_related("project")
        .annotate(image_count=Count("project__images"))
        .order_by("project__name", "project_id")
    )
    result = []
    for membership in memberships:
        project = membership.project
        project.image_count = membership.image_count  # type: ignore[attr-defined]
        result.append((project, membership.role))
    return result


def project_counts(project: Project) -> dict[str, int]:
    """Headline numbers for the project page, from the image tallies: a few rows per
    project however many images it holds (labeling/image_tallies.py)."""
    counts = {"images": 0, "labeled": 0, "reviewed": 0, "embedded": 0, "embedding_failed": 0}
    labeled = (LabelingStatus.SUBMITTED, LabelingStatus.APPROVED)
    for (labeling, embedding), n in tallies(project.pk).items():
        counts["images"] += n
        counts["labeled"] += n if labeling in labeled else 0
        counts["reviewed"] += n if labeling == LabelingStatus.APPROVED else 0
        counts["embedded"] += n if embedding == EmbeddingStatus.READY else 0
        counts["embedding_failed"] += n if embedding == EmbeddingStatus.FAILED else 0
    return counts
