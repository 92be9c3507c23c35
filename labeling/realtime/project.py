"""The project page's socket (`ws/projects/<id>/`): nudges, never data.

Every change the page shows (a mask, a status, a claim, who is viewing) sends a
`page.changed` event to `events.page_group(id)`. This consumer coalesces a burst of
them (an import of a thousand masks, say) into one `{"type": "changed"}` frame at
most every NUDGE_EVERY seconds, and the page answers by fetching its counts and
statuses from the access-checked status URL. A nudge carries nothing, so the socket
cannot leak anything; membership is still re-checked now and then, so a removed
member's socket closes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.exceptions import PermissionDenied

from labeling.events import page_group
from labeling.permissions import ProjectNotFound, project_access
from labeling.realtime.protocol import CLOSE_FORBIDDEN

NUDGE_EVERY = 0.1  # seconds: a burst of changes becomes one refresh
RECHECK_EVERY = 30.0  # seconds between membership checks while nudges flow


def workers_reach_pages() -> bool:
    """Whether events from worker processes (embeddings) arrive here. Only a shared
    layer (Redis) carries them; the embedded mode's in-memory layer is per process,
    so there the page keeps polling often."""
    backend = str(settings.CHANNEL_LAYERS["default"]["BACKEND"])
    return not backend.endswith("InMemoryChannelLayer")


class ProjectConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.project_id = int(self.scope["url_route"]["kwargs"]["project_id"])
        self.user = self.scope.get("user")
        self.group: str | None = None
        self.flush: asyncio.Task[None] | None = None
        if not await self._allowed():
            await self.close()  # refused at the handshake, as for a missing project
            return
        self.checked = time.monotonic()
        self.group = page_group(self.project_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "worker_events": workers_reach_pages()})

    async def _allowed(self) -> bool:
        if self.user is None or not self.user.is_authenticated:
            return False
        try:
            await database_sync_to_async(project_access)(self.user, self.project_id)
        except (ProjectNotFound, PermissionDenied):
            return False
        return True

    async def disconnect(self, code: int) -> None:
        if self.flush is not None:
            self.flush.cancel()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The page sends nothing that needs an answer: frames are dropped unread."""

    async def page_changed(self, event: dict[str, Any]) -> None:
        if self.flush is None or self.flush.done():
            self.flush = asyncio.ensure_future(self._send_nudge())

    async def _send_nudge(self) -> None:
        await asyncio.sleep(NUDGE_EVERY)
        if time.monotonic() - self.checked > RECHECK_EVERY:
            self.checked = time.monotonic()
            if not await self._allowed():
                await self.close(code=CLOSE_FORBIDDEN)
                return
        await self.send_json({"type": "changed"})
