"""The work queue: "next image" hands each annotator a different unlabeled image.

An image is claimed by the person it was handed to until it is labeled, they move on
to another image, or nobody has worked under the claim for ANYMASK_CLAIM_MINUTES
(the labeling page and its socket refresh it while someone works).

Claiming is one conditional UPDATE per candidate ("set me as the claimer where it is
still unlabeled and free"), and its row count says who won: two people pressing
"next" at the same instant both try the same row, the database serialises the two
updates, and the second one's condition no longer holds, so it moves on to the next
candidate. No lock is held between reading candidates and claiming one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.utils import timezone

from labeling.events import nudge_pages_on_commit
from labeling.models import Image, LabelingStatus, Project

# Candidates read per round; a round whose every candidate was taken meanwhile reads
# the next ones, so a crowd pressing "next" always ends up with distinct images.
CANDIDATES_PER_ROUND = 16


def claim_cutoff(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(minutes=settings.ANYMASK_CLAIM_MINUTES)


def free_for(user: User, now: datetime) -> Q:
    """Images nobody else holds a live claim on."""
    return Q(claimed_by__isnull=True) | Q(claimed_by=user) | Q(claimed_at__lt=claim_cutoff(now))


def _claimable(project: Project, user: User, now: datetime) -> QuerySet[Image]:
    return Image.objects.filter(
        free_for(user, now), project=project, labeling_status=LabelingStatus.UNLABELED
    )


def do_claim_next(project: Project, user: User, after: int | None = None) -> Image | None:
    """The user's own rejected image, if any (it is theirs to fix), else the first free
    unlabeled image after image id `after` (wrapping round), claimed; the user's
    other claims in the project are released. None if there is none."""
    rejected = Image.objects.filter(
        project=project, labeling_status=LabelingStatus.REJECTED, submitted_by=user
    )
    if after is not None:
        rejected = rejected.exclude(pk=after)
    returned = rejected.order_by("pk").first()
    if returned is not None:  # rejected work comes back to its annotator first
        Image.objects.filter(pk=returned.pk).update(claimed_by=user, claimed_at=timezone.now())
        do_release_claims(project, user, keep=returned.pk)
        nudge_pages_on_commit(project.pk)
        return returned
    tried: set[int] = set()
    while True:
        now = timezone.now()
        free = _claimable(project, user, now).exclude(pk__in=tried)
        if after is not None:
            free = free.exclude(pk=after)
        ordered = list(free.filter(pk__gt=after or 0).order_by("pk")[:CANDIDATES_PER_ROUND])
        if len(ordered) < CANDIDATES_PER_ROUND:  # wrap round to the start
            ordered += list(free.exclude(pk__in=[i.pk for i in ordered]).order_by("pk")[
                : CANDIDATES_PER_ROUND - len(ordered)
            ])  # fmt: skip
        if not ordered:
            return None
        for candidate in ordered:
            tried.add(candidate.pk)
            won = (
                _claimable(project, user, now)
                .filter(pk=candidate.pk)
                .update(claimed_by=user, claimed_at=now)
            )
            if won == 1:
                do_release_claims(project, user, keep=candidate.pk)
                candidate.claimed_by, candidate.claimed_at = user, now
                nudge_pages_on_commit(project.pk)  # the grid shows who holds what
                return candidate


def do_claim_opened(image: Image, user: User) -> str | None:
    """Someone opened `image`: claim it for them if it is unlabeled and free, else
    refresh their own claim. Returns the username of whoever else holds a live claim
    on it, if any."""
    now = timezone.now()
    if image.labeling_status == LabelingStatus.UNLABELED:
        won = (
            _claimable(image.project, user, now)
            .filter(pk=image.pk)
            .update(claimed_by=user, claimed_at=now)
        )
        if won == 1:
            do_release_claims(image.project, user, keep=image.pk)
            return None
    holder = (
        Image.objects.filter(pk=image.pk, claimed_at__gte=claim_cutoff(now))
        .exclude(claimed_by=user)
        .values_list("claimed_by__username", flat=True)
        .first()
    )
    return holder or None


def do_touch_claim(image_id: int, user_id: int) -> None:
    """The user is still working on the image: their claim (if any) stays live."""
    Image.objects.filter(pk=image_id, claimed_by_id=user_id).update(claimed_at=timezone.now())


def do_release_claims(project: Project, user: User, keep: int | None = None) -> None:
    held = Image.objects.filter(project=project, claimed_by=user)
    if keep is not None:
        held = held.exclude(pk=keep)
    held.update(claimed_by=None, claimed_at=None)


def live_claims(project: Project, image_ids: list[int]) -> dict[int, str]:
    """Image id -> username of its live claim, for the project grid."""
    rows = Image.objects.filter(
        project=project, pk__in=image_ids, claimed_at__gte=claim_cutoff()
    ).values_list("pk", "claimed_by__username")
    return {pk: name for pk, name in rows if name}
