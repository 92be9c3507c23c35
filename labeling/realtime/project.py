"""The project page's socket (`ws/projects/<id>/`): nudges, never data.

Every change the page shows (a mask, a status, a claim, who is viewing) sends a
`page.changed` event to `events.page_group(id)`. This consumer coalesces a burst of
them (an import of a thousand masks, say) into one `{"type": "changed"}` frame at
most every NUDGE_EVERY seconds, and the page answers by fetching its counts and
statuses from the access-checked status URL. A nudge carries nothing, so the socket
cannot leak anything; still, access is checked before every nudge and once a
second (`guard`), so a logged-out or removed member's socket closes with 4403.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from labeling.events import page_group
from labeling.realtime.access import Forbidden, PageAccessCheck
from labeling.realtime.guard import AccessGuard
from labeling.realtime.outage import GroupWatch, LayerOutage, quietly
from labeling.realtime.protocol import CLOSE_FORBIDDEN

logger = logging.getLogger(__name__)

NUDGE_EVERY = 0.1  # seconds: a burst of changes becomes one refresh


def workers_reach_pages() -> bool:
    """Whether events from worker processes (embeddings) arrive here. Only a shared
    layer (Redis) carries them; the embedded mode's in-memory layer is per process,
    so there the page keeps polling often."""
    backend = str(settings.CHANNEL_LAYERS["default"]["BACKEND"])
    return not backend.endswith("InMemoryChannelLayer")


class ProjectConsumer(LayerOutage, AsyncJsonWebsocketConsumer):
    socket_kind = "project"

    async def connect(self) -> None:
        self.project_id = int(self.scope["url_route"]["kwargs"]["project_id"])
        self.closed = True
        self.group: str | None = None
        self.flush: asyncio.Task[None] | None = None
        user = self.scope.get("user")
        session = self.scope.get("session")
        if user is None or not user.is_authenticated:
            await self.close()  # refused at the handshake, as for a missing project
            return
        key = session.session_key if session is not None else None
        self.access = PageAccessCheck(key, user.pk, self.project_id)
        try:
            await database_sync_to_async(self.access)()
        except Forbidden:
            await self.close()
            return
        self.guard = AccessGuard(database_sync_to_async(self.access), self._end_access)
        self.group = page_group(self.project_id)
        self.groups_watch = GroupWatch(
            self.channel_layer, [self.group], self.channel_name, self.close_for_retry
        )
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.closed = False
        await self.send_json({"type": "hello", "worker_events": workers_reach_pages()})
        self.guard.start()
        self.groups_watch.start()

    async def disconnect(self, code: int) -> None:
        await self.left(code)

    async def left(self, code: int) -> None:
        self.closed = True
        if self.flush is not None:
            self.flush.cancel()
        if hasattr(self, "guard"):
            self.guard.stop()
            self.groups_watch.stop()
        if self.group is not None:
            group, self.group = self.group, None
            await quietly(self.channel_layer.group_discard(group, self.channel_name))

    async def _end_access(self, detail: str) -> None:
        if not self.closed:
            self.closed = True
            await self.close(code=CLOSE_FORBIDDEN)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The page sends nothing that needs an answer: frames are dropped unread."""

    async def page_changed(self, event: dict[str, Any]) -> None:
        if self.flush is None or self.flush.done():
            self.flush = asyncio.ensure_future(self._send_nudge())

    async def _send_nudge(self) -> None:
        await asyncio.sleep(NUDGE_EVERY)
        if self.closed:
            return
        try:  # checked before every nudge, not only by the guard's once a second
            await database_sync_to_async(self.access)()
        except Forbidden as forbidden:
            await self._end_access(str(forbidden))
            return
        except Exception as error:  # no answer from the database: the page retries
            logger.warning("project page socket: no access check (%s)", type(error).__name__)
            await self.close_for_retry()
            return
        await self.send_json({"type": "changed"})
