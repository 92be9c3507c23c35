"""Push changes to everyone watching a project, through the channel layer.

Consumers (the labeling page, the live project page) join `project_group(id)`.
Publishing never fails the caller: a browser that misses a push still catches up on
its next poll or reconnect.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def project_group(project_id: int) -> str:
    return f"project-{project_id}"


def publish(project_id: int, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:  # pragma: no cover - CHANNEL_LAYERS is always configured
        return
    try:
        async_to_sync(layer.group_send)(project_group(project_id), event)
    except Exception:
        logger.warning("could not publish %s to project %s", event.get("type"), project_id)


def publish_image_status(project_id: int, image_id: int, **fields: Any) -> None:
    publish(project_id, {"type": "image.status", "image": image_id, **fields})
