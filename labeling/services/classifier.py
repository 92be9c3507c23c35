"""Category suggestions: when the project's classifier retrains, and where it stands.

Every approval of a categorised mask may make a retrain due: once
`ANYMASK_CLASSIFIER_RETRAIN_EVERY` such masks were approved since the last training
began, one `train_classifier` task is queued on the training queue. Debounced: the
row's `pending` flag is set by one conditional UPDATE, so of any number of approvals
(or admins pressing "Train now") at once exactly one queues the task; the job clears
the flag when it ends and queues the next itself if more approvals came meanwhile.
Admins may ask for a training at any time (`do_request_training`); reviewers and
admins see the figures (`classifier_json`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from labeling import category_store
from labeling.category_classifier import CategoryClassifier
from labeling.events import nudge_pages_on_commit
from labeling.models import Annotation, AnnotationStatus, Project
from labeling.queueing import TRAIN_CLASSIFIER, enqueue_on_commit

logger = logging.getLogger(__name__)


def approved_masks(project_id: int) -> Any:
    """The masks a classifier learns from: approved, with a category."""
    return Annotation.objects.filter(
        image__project_id=project_id,
        status=AnnotationStatus.APPROVED,
        category__isnull=False,
    )


def classifier_row(project_id: int) -> CategoryClassifier:
    row, _ = CategoryClassifier.objects.get_or_create(project_id=project_id)
    return row


# A retrain pending this long lost its worker (killed mid-training, a lost task):
# it no longer blocks the next one.
PENDING_STALE = timedelta(hours=1)


def _free() -> Q:
    return Q(pending=False) | Q(requested_at__lt=timezone.now() - PENDING_STALE)


def do_request_training(project: Project, user: User | None) -> bool:
    """Queue a retrain unless one is pending already; True when this call queued it."""
    classifier_row(project.pk)
    with transaction.atomic():
        free = CategoryClassifier.objects.filter(_free(), project_id=project.pk)
        queued = free.update(pending=True, requested_at=timezone.now(), requested_by=user, error="")
        if queued:
            enqueue_on_commit(TRAIN_CLASSIFIER, project.pk)
            nudge_pages_on_commit(project.pk)
    return bool(queued)


def retrain_if_due(project_id: int) -> bool:
    """Queue a retrain when enough masks were approved since the last one began."""
    row = CategoryClassifier.objects.filter(project_id=project_id).first()
    if row is not None and not CategoryClassifier.objects.filter(_free(), pk=row.pk).exists():
        return False  # cheap exit: the one pending retrain will see these approvals
    seen = row.approved_seen if row is not None else 0
    if approved_masks(project_id).count() - seen < settings.ANYMASK_CLASSIFIER_RETRAIN_EVERY:
        return False
    project = Project.objects.filter(pk=project_id).first()
    return project is not None and do_request_training(project, None)


def retrain_when_committed(project_id: int) -> None:
    """Called when a mask becomes approved: check after commit whether a retrain is due.
    A failure here must never undo the approval that triggered it."""

    # Approving an image approves its masks one by one in one transaction: one check
    # after it commits is enough, not one count query per mask.
    pending = transaction.get_connection().run_on_commit
    if any(getattr(hook[1], "classifier_project", None) == project_id for hook in pending):
        return

    def check_retrain() -> None:
        try:
            retrain_if_due(project_id)
        except Exception:
            logger.exception("could not check whether project %s needs a retrain", project_id)

    check_retrain.classifier_project = project_id  # type: ignore[attr-defined]
    transaction.on_commit(check_retrain, robust=True)


def do_store_training(
    project_id: int,
    *,
    head: Any,
    approved_seen: int,
    figures: dict[str, Any],
) -> CategoryClassifier | None:
    """Make `head` (an `inference.category_head.CategoryHead`) the project's classifier
    with its held-out `figures`, and end the pending retrain. The previous head's file
    is removed once this commits. None when the project is gone."""
    with transaction.atomic():
        project = Project.objects.select_for_update().filter(pk=project_id).first()
        if project is None:
            return None
        row = classifier_row(project_id)
        version = row.version + 1
        name = category_store.save(project_id, version, head)
        old = project.category_head
        Project.objects.filter(pk=project_id).update(category_head=name)
        CategoryClassifier.objects.filter(pk=row.pk).update(
            version=version,
            trained_at=timezone.now(),
            approved_seen=approved_seen,
            pending=False,
            error="",
            **figures,
        )
        if old and old != name:
            transaction.on_commit(lambda: category_store.delete(old), robust=True)
        nudge_pages_on_commit(project_id)
    row.refresh_from_db()
    return row


def do_end_training(project_id: int, *, approved_seen: int, error: str) -> None:
    """A retrain that stored nothing (why: `error`); the current classifier stays."""
    CategoryClassifier.objects.filter(project_id=project_id).update(
        pending=False, approved_seen=approved_seen, error=error
    )
    nudge_pages_on_commit(project_id)


def classifier_json(project: Project) -> dict[str, Any]:
    """What reviewers and admins see: the figures of the current classifier (or that
    there is none yet), whether a retrain is pending, and when the next is due."""
    row = CategoryClassifier.objects.filter(project=project).select_related("requested_by").first()
    if row is None:
        row = CategoryClassifier(project=project)
    approved = approved_masks(project.pk).count()
    every = settings.ANYMASK_CLASSIFIER_RETRAIN_EVERY
    return {
        **row.summary_json(),
        "active": bool(project.category_head),
        "approved_masks": approved,
        "retrain_every": every,
        "next_retrain_in": max(0, every - (approved - row.approved_seen)),
    }
