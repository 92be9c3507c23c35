from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, Q

from labeling.models import EmbeddingStatus, Image, LabelingStatus, Membership, Project, Role


@transaction.atomic
def do_create_project(
    user: User, *, name: str, description: str = "", model_spec: str = ""
) -> Project:
    """Create a project; its creator becomes its first admin."""
    from labeling.services.models_choice import check_model_spec

    project = Project(name=name.strip(), description=description.strip(), created_by=user)
    if model_spec:
        project.model_spec = check_model_spec(model_spec)
    project.full_clean()
    project.save()
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    return project


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
    """Headline numbers for the project page, in one query."""
    labeled = Q(labeling_status__in=[LabelingStatus.SUBMITTED, LabelingStatus.APPROVED])
    return Image.objects.filter(project=project).aggregate(
        images=Count("id"),
        labeled=Count("id", filter=labeled),
        reviewed=Count("id", filter=Q(labeling_status=LabelingStatus.APPROVED)),
        embedded=Count("id", filter=Q(embedding_status=EmbeddingStatus.READY)),
        embedding_failed=Count("id", filter=Q(embedding_status=EmbeddingStatus.FAILED)),
    )
