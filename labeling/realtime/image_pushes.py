"""The labeling socket's pushes: what other people and processes change, relayed.

Masks (`annotation.*`), viewers (`image.presence`) and embedding news
(`image.status`) come through the channel layer's groups; each is checked against
the socket's access before it is relayed (`may_push`): the guard's check once a
second is not enough on its own, a push could slip out in between. A mixin of
`image.ImageConsumer`, which provides the socket itself.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async

from labeling.events import PAGE_NUDGE, image_group, page_group
from labeling.realtime.access import Authorized, Forbidden
from labeling.realtime.outage import quietly
from labeling.services import presence

if TYPE_CHECKING:
    from labeling.permissions import Ability
    from labeling.realtime.embedding_watch import EmbeddingWatch
    from labeling.realtime.heartbeat import PresenceHeartbeat

logger = logging.getLogger(__name__)


class ImagePushes:
    image_id: int
    project_id: int
    channel_name: str
    channel_layer: Any
    closed: bool
    embedding: EmbeddingWatch
    heartbeat: PresenceHeartbeat

    # Provided by the consumer (and LayerOutage).
    async def send_json(self, content: dict[str, Any]) -> None:
        raise NotImplementedError

    async def authorize(self, abilities: list[Ability], fresh: bool = True) -> Authorized:
        raise NotImplementedError

    async def refuse(self, seq: int | None, detail: str) -> None:
        raise NotImplementedError

    async def close_for_retry(self) -> None:
        raise NotImplementedError

    async def may_push(self) -> bool:
        """Whether a push may still be relayed: the socket's access, checked now (one
        query while nothing changed). Access gone closes the socket instead (4403), and
        so does a check that cannot be made (4503: the page reconnects and catches up
        on what it was not sent)."""
        if self.closed:
            return False
        try:
            await self.authorize([], fresh=False)
        except Forbidden as forbidden:
            await self.refuse(None, str(forbidden))
            return False
        except Exception as error:
            logger.warning(
                "image %s: no access check for a push (%s); closing for a retry",
                self.image_id,
                type(error).__name__,
            )
            await self.close_for_retry()
            return False
        return True

    async def _publish_presence(self, project_id: int, image_id: int, viewers: list[str]) -> None:
        event = {"type": "image.presence", "image": image_id, "viewers": viewers}
        await self.channel_layer.group_send(image_group(image_id), event)
        await self.channel_layer.group_send(page_group(project_id), PAGE_NUDGE)

    async def _publish_swept(self, project_id: int, image_id: int) -> None:
        """A heartbeat swept a dead socket's row from this image: tell its viewers."""
        viewers = await database_sync_to_async(presence.viewers_of)([image_id])
        await quietly(self._publish_presence(project_id, image_id, viewers.get(image_id, [])))

    async def image_status(self, event: dict[str, Any]) -> None:
        if event.get("image") == self.image_id and "embedding" in event and await self.may_push():
            await self.embedding.changed(event["embedding"], event.get("error", ""))

    async def image_presence(self, event: dict[str, Any]) -> None:
        if event.get("image") == self.image_id and await self.may_push():
            await self._show_viewers(list(event.get("viewers", [])))

    async def _beat_viewers(self, viewers: list[str]) -> None:
        """The heartbeat found other viewers than the page was told of."""
        if await self.may_push():
            await self._show_viewers(viewers)

    async def _show_viewers(self, viewers: list[str]) -> None:
        self.heartbeat.shown(viewers)
        await self.send_json({"type": "presence", "viewers": viewers})

    async def annotation_created(self, event: dict[str, Any]) -> None:
        await self._relay(event, annotation=event.get("annotation"))

    async def annotation_updated(self, event: dict[str, Any]) -> None:
        await self._relay(event, annotation=event.get("annotation"))

    async def annotation_deleted(self, event: dict[str, Any]) -> None:
        await self._relay(event, id=event.get("id"))

    async def annotation_imported(self, event: dict[str, Any]) -> None:
        await self._relay(event, annotations=event.get("annotations"))

    async def _relay(self, event: dict[str, Any], **body: Any) -> None:
        # Events come through the image's group, but stay checked against the image;
        # the socket that made a change already has its reply.
        if event.get("image") != self.image_id or event.get("origin") == self.channel_name:
            return
        if not await self.may_push():
            return
        await self.send_json({"type": event["type"], **body, "by": event.get("by")})
