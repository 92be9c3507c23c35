"""A labeling socket's presence heartbeat: its row stays fresh while it lives.

Every `presence.HEARTBEAT_SECONDS` the socket refreshes its own presence row and
sweeps stale ones (rows of sockets that died without closing, such as those of a
killed web process), then tells the swept images' viewers and project pages. A
socket that closes deletes its row at once (the consumer's `left`); a dead one
stops counting after `presence.STALE_SECONDS` and is gone from every page a
heartbeat later. Each beat also re-reads who else has the image open and tells
its own page when that changed: viewers on another web process reach it even
without a shared channel layer (the embedded mode's is per process).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async

from labeling.services import presence

logger = logging.getLogger(__name__)

Publish = Callable[[int, int], Awaitable[None]]  # (project id, image id)
Show = Callable[[list[str]], Awaitable[None]]  # this socket's page: the viewers now


class PresenceHeartbeat:
    def __init__(self, channel_name: str, image_id: int, publish: Publish, show: Show) -> None:
        self.channel_name, self.image_id = channel_name, image_id
        self._publish, self._show = publish, show
        self.viewers: list[str] | None = None  # as the page last heard them
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(presence.HEARTBEAT_SECONDS)
            try:
                swept, viewers = await database_sync_to_async(beat)(
                    self.channel_name, self.image_id
                )
            except Exception as error:  # a database hiccup: the next beat tries again
                logger.warning("presence heartbeat failed (%s)", type(error).__name__)
                continue
            for project_id, image_ids in swept.items():
                for image_id in image_ids:
                    await self._publish(project_id, image_id)
            if viewers != self.viewers:
                await self._show(viewers)

    def shown(self, viewers: list[str]) -> None:
        """The page was just told `viewers` (by a presence push)."""
        self.viewers = viewers


def beat(channel_name: str, image_id: int) -> tuple[dict[int, list[int]], list[str]]:
    """Refresh this socket's row, sweep stale ones; who has the image open now."""
    presence.do_touch(channel_name)
    swept = presence.do_sweep()
    return swept, presence.viewers_of([image_id]).get(image_id, [])
