"""Review: annotators submit images, reviewers approve or reject them.

Submitting marks the image submitted, turns its draft masks into submitted ones
and gives up the submitter's claim on it: the work queue moves on. A reviewer then
approves or rejects the whole image with a comment: its submitted masks take the
decision, and a rejected image goes back to whoever submitted it (their "next
unlabeled" hands it to them first, with the comment shown on the image). Every mask
change goes through `do_update_annotation`, so it is in the history and pushed live.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from labeling.events import nudge_pages_on_commit
from labeling.models import REVIEW_COMMENT_MAX, Annotation, AnnotationStatus, Image, LabelingStatus
from labeling.services.annotations import VersionConflict, do_update_annotation
from labeling.services.claims import do_release_claims
from labeling.services.errors import ServiceError

DECISIONS = {"approve": LabelingStatus.APPROVED, "reject": LabelingStatus.REJECTED}

# Statuses a submit may move an image from: review decides the rest.
SUBMITTABLE = (LabelingStatus.UNLABELED, LabelingStatus.IN_PROGRESS, LabelingStatus.REJECTED)


@transaction.atomic
def do_submit_image(image: Image, user: User) -> int:
    """Submit `image` for review; returns how many draft masks became submitted."""
    locked = Image.objects.select_for_update().get(pk=image.pk)
    moved = _move_masks(locked, user, {AnnotationStatus.DRAFT}, AnnotationStatus.SUBMITTED)
    if locked.labeling_status in SUBMITTABLE:
        Image.objects.filter(pk=locked.pk).update(
            labeling_status=LabelingStatus.SUBMITTED, submitted_by=user
        )
    do_release_claims(locked.project, user)
    nudge_pages_on_commit(locked.project_id)
    return moved


def _move_masks(image: Image, user: User, before: set[str], after: str) -> int:
    """Every mask of `image` in one of the `before` statuses gets status `after`."""
    moved = 0
    masks = Annotation.objects.filter(image=image, status__in=before)
    for pk, version in masks.values_list("pk", "version"):
        try:
            do_update_annotation(image, pk, user, expected_version=version, status=after)
        except VersionConflict:
            continue  # someone changed it this instant; their status stands
        moved += 1
    return moved


@transaction.atomic
def do_review_image(image: Image, reviewer: User, decision: str, comment: str) -> int:
    """Approve or reject a submitted image with a comment; returns masks decided."""
    if decision not in DECISIONS:
        raise ServiceError("Approve or reject.", field="decision")
    comment = comment.strip()
    if len(comment) > REVIEW_COMMENT_MAX:
        raise ServiceError(
            f"Keep the comment under {REVIEW_COMMENT_MAX} characters.", field="comment"
        )
    if decision == "reject" and not comment:
        raise ServiceError("Say what to fix: a rejection needs a comment.", field="comment")
    locked = Image.objects.select_for_update().get(pk=image.pk)
    if locked.labeling_status != LabelingStatus.SUBMITTED:
        raise ServiceError("Only a submitted image can be reviewed; this one is not.")
    status = DECISIONS[decision]
    mask_status = AnnotationStatus.APPROVED if decision == "approve" else AnnotationStatus.REJECTED
    moved = _move_masks(locked, reviewer, {AnnotationStatus.SUBMITTED}, mask_status)
    fields = {
        "labeling_status": status,
        "reviewed_by": reviewer,
        "reviewed_at": timezone.now(),
        "review_comment": comment,
    }
    if decision == "reject" and locked.submitted_by_id:
        # Back to its annotator: claimed for them, so nobody else's "next" takes it.
        fields.update(claimed_by_id=locked.submitted_by_id, claimed_at=timezone.now())
    Image.objects.filter(pk=locked.pk).update(**fields)
    nudge_pages_on_commit(locked.project_id)
    return moved


def review_queue(project_id: int) -> list[Image]:
    """Submitted images, longest waiting first (by id: the order they were added)."""
    return list(
        Image.objects.filter(project_id=project_id, labeling_status=LabelingStatus.SUBMITTED)
        .select_related("submitted_by")
        .order_by("pk")[:500]
    )
