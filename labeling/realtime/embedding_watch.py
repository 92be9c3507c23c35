"""A labeling socket's view of its image's embedding status.

The worker pushes `image.status` when an embedding is ready or failed; in embedded
mode it is another process, whose events cannot reach this one (the in-memory
channel layer), so while the status is not ready the socket also re-reads it every
`ANYMASK_WS_EMBEDDING_POLL_MS`. Either way the page gets one `embedding` frame per
change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from labeling.models import EmbeddingStatus
from labeling.realtime import database

logger = logging.getLogger(__name__)


class EmbeddingWatch:
    def __init__(
        self,
        image_id: int,
        state: tuple[str, str],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        self.image_id, self.state, self._send = image_id, state, send
        self._poller: asyncio.Task[None] | None = None
        self.closed = False

    @property
    def ready(self) -> bool:
        return self.state[0] == EmbeddingStatus.READY

    def close(self) -> None:
        self.closed = True
        if self._poller is not None:
            self._poller.cancel()

    async def changed(self, status: str, error: str) -> None:
        """The status is now (status, error), as pushed or read: tell the page."""
        if (status, error) != self.state:
            self.state = (status, error)
            await self._send({"type": "embedding", "status": status, "error": error})
        self.watch()

    def watch(self) -> None:
        """Poll while the status is not ready (one poller at a time)."""
        if not self.ready and not self.closed and (self._poller is None or self._poller.done()):
            self._poller = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        interval = settings.ANYMASK_WS_EMBEDDING_POLL_MS / 1000
        while not self.closed and not self.ready:
            await asyncio.sleep(interval)
            try:
                state = await database_sync_to_async(database.embedding_state)(self.image_id)
            except Exception:  # a database hiccup: try again at the next tick
                logger.warning("could not read the embedding status of image %s", self.image_id)
                continue
            if state is None:  # the image is gone; the next request gets `forbidden`
                return
            if state != self.state:
                self.state = state
                await self._send({"type": "embedding", "status": state[0], "error": state[1]})
