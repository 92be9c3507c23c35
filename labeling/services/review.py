"""An annotator's "done with this image": the image goes to review.

Submitting marks the image submitted, turns its draft masks into submitted ones
(through `do_update_annotation`, so each change is in the history and pushed live),
and gives up the submitter's claim on it: the work queue moves on.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from labeling.models import Annotation, AnnotationStatus, Image, LabelingStatus
from labeling.services.annotations import VersionConflict, do_update_annotation
from labeling.services.claims import release_claims

# Statuses a submit may move an image from: review decides the rest.
SUBMITTABLE = (LabelingStatus.UNLABELED, LabelingStatus.IN_PROGRESS, LabelingStatus.REJECTED)


@transaction.atomic
def do_submit_image(image: Image, user: User) -> int:
    """Submit `image` for review; returns how many draft masks became submitted."""
    locked = Image.objects.select_for_update().get(pk=image.pk)
    moved = 0
    drafts = Annotation.objects.filter(image=locked, status=AnnotationStatus.DRAFT)
    for pk, version in drafts.values_list("pk", "version"):
        try:
            do_update_annotation(
                locked, pk, user, expected_version=version, status=AnnotationStatus.SUBMITTED
            )
        except VersionConflict:
            continue  # someone changed it this instant; their status stands
        moved += 1
    if locked.labeling_status in SUBMITTABLE:
        Image.objects.filter(pk=locked.pk).update(labeling_status=LabelingStatus.SUBMITTED)
    release_claims(locked.project, user)
    return moved
