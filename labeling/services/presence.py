"""Presence: who has each image open, for the labeling page and the project grid.

A database row per open socket rather than state in one process, so every web
process (and the project grid's status feed) sees the same viewers.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.utils import timezone

from labeling.models import Presence

# Every open socket refreshes its row each HEARTBEAT_SECONDS (labeling/realtime/
# heartbeat.py); a row not refreshed for STALE_SECONDS belongs to a socket that is
# gone (a killed web process never ran its disconnect), so readers ignore it and the
# next heartbeat anywhere deletes it and tells the image's viewers.
HEARTBEAT_SECONDS = 3.0
STALE_SECONDS = 10.0


def _live() -> object:
    return timezone.now() - timedelta(seconds=STALE_SECONDS)


def do_arrive(channel_name: str, image_id: int, user_id: int) -> list[str]:
    Presence.objects.update_or_create(
        channel_name=channel_name,
        defaults={"image_id": image_id, "user_id": user_id, "seen_at": timezone.now()},
    )
    return viewers_of([image_id]).get(image_id, [])


def do_leave(channel_name: str, image_id: int) -> list[str]:
    Presence.objects.filter(channel_name=channel_name).delete()
    return viewers_of([image_id]).get(image_id, [])


def do_touch(channel_name: str) -> None:
    Presence.objects.filter(channel_name=channel_name).update(seen_at=timezone.now())


def do_sweep() -> dict[int, list[int]]:
    """Delete stale rows; the projects and images they were on, to tell their pages.
    One indexed query when there is nothing stale (nearly always)."""
    stale = list(
        Presence.objects.filter(seen_at__lt=_live()).values_list(
            "pk", "image_id", "image__project_id"
        )
    )
    if not stale:
        return {}
    # Two sweeps at once may both report a row: its viewers get one more push.
    Presence.objects.filter(pk__in=[pk for pk, _, _ in stale]).delete()
    swept: dict[int, set[int]] = defaultdict(set)
    for _, image_id, project_id in stale:
        swept[project_id].add(image_id)
    return {project_id: sorted(images) for project_id, images in swept.items()}


def viewers_of(image_ids: list[int]) -> dict[int, list[str]]:
    """Image id -> usernames with it open (each once, sorted)."""
    rows = (
        Presence.objects.filter(image_id__in=image_ids, seen_at__gte=_live())
        .values_list("image_id", "user__username")
        .distinct()
    )
    found: dict[int, set[str]] = defaultdict(set)
    for image_id, username in rows:
        found[image_id].add(username)
    return {image_id: sorted(names) for image_id, names in found.items()}
