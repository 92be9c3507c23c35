"""Push changes to everyone watching a project, through the channel layer.

Labeling pages join `image_group(id)` for their image's masks and viewers, and
`project_group(id)` for the rarer project-wide news (embedding status). Project pages
join `page_group(id)` and get only a tiny `page.changed` nudge, on which they fetch
their counts and statuses again (labeling/realtime/project.py). Publishing never fails
the caller: a browser that misses a push still catches up on its next poll or
reconnect.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def project_group(project_id: int) -> str:
    return f"project-{project_id}"


def page_group(project_id: int) -> str:
    return f"project-{project_id}-page"


def image_group(image_id: int) -> str:
    """The labeling pages open on one image. Its masks' changes go here, not to the
    project group: sent project-wide, a busy project's (or an import's) pushes would
    crowd each socket's bounded channel with other images' news."""
    return f"image-{image_id}"


PAGE_NUDGE = {"type": "page.changed"}


def _twice(send: Any) -> bool:
    """Run `send`, once more if it fails: a pooled Redis connection that died (seen
    in CI as an occasional lost push) is replaced on the second try. False if both
    failed (each failure is logged with its exception). A retried batch may repeat
    some pushes; the pages apply each one by id, so a repeat changes nothing."""
    for attempt in (1, 2):
        try:
            send()
            return True
        except Exception:
            logger.info("publishing failed (try %s of 2)", attempt, exc_info=True)
    return False


def _send(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:  # pragma: no cover - CHANNEL_LAYERS is always configured
        return
    if not _twice(lambda: async_to_sync(layer.group_send)(group, event)):
        logger.warning("could not publish %s to %s", event.get("type"), group)


def publish(project_id: int, event: dict[str, Any]) -> None:
    """Send `event` to the project's labeling pages, and nudge its project pages."""
    _send(project_group(project_id), event)
    _send(page_group(project_id), PAGE_NUDGE)


def publish_to_images(project_id: int, events: list[dict[str, Any]]) -> None:
    """Send each event to the pages open on its image (`image_group`), all in one trip
    through the event loop, then one nudge for the project pages. For batches such as
    an import's: a socket's channel holds a bounded number of messages (100 on Redis),
    so thousands sent project-wide would push out the ones it needs."""
    layer = get_channel_layer()
    if layer is None or not events:  # pragma: no cover - CHANNEL_LAYERS is always set
        return

    async def send_all() -> None:
        for event in events:
            await layer.group_send(image_group(event["image"]), event)
        await layer.group_send(page_group(project_id), PAGE_NUDGE)

    if not _twice(async_to_sync(send_all)):
        logger.warning("could not publish %d events to project %s", len(events), project_id)


def nudge_page(project_id: int) -> None:
    """Tell the project's pages to fetch their status again (now)."""
    _send(page_group(project_id), PAGE_NUDGE)


def nudge_pages_on_commit(project_id: int) -> None:
    """After a change only the project page shows (a claim, a submit, a review)."""
    from django.db import transaction

    transaction.on_commit(lambda: _send(page_group(project_id), PAGE_NUDGE))


def publish_image_status(project_id: int, image_id: int, **fields: Any) -> None:
    publish(project_id, {"type": "image.status", "image": image_id, **fields})


def publish_annotation_on_commit(
    project_id: int, image_id: int, event: dict[str, Any], origin: str | None
) -> None:
    """Push an `annotation.*` event once the surrounding transaction commits.

    `origin` is the channel name of the socket that made the change: that socket has
    its own reply, so consumers skip the echo. Nothing is sent if the transaction
    rolls back, so nobody ever sees a change that did not happen.
    """
    from django.db import transaction

    message = {**event, "image": image_id, "origin": origin}
    # Only the pages open on this image want it: busy projects would otherwise send
    # every socket every image's masks.
    transaction.on_commit(lambda: publish_to_images(project_id, [message]))
