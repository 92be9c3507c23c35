"""A socket's access guard: the access check again every second, while idle too.

A socket that only listens (a page left open) sends nothing, so a check on each
request alone would never notice that its access ended. The guard runs the same
check (`access`, one indexed query while nothing changed) every
`ANYMASK_WS_RECHECK_MS`, and ends the socket with 4403 the first time it fails.
Pushes are checked before they are relayed as well (the consumers), so nothing is
delivered in between.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from django.conf import settings

from labeling.realtime.access import Forbidden

logger = logging.getLogger(__name__)


class AccessGuard:
    """Calls `check` (which raises `Forbidden`) every interval; on the first refusal
    calls `refuse(detail)` once and stops."""

    def __init__(
        self, check: Callable[[], Awaitable[object]], refuse: Callable[[str], Awaitable[None]]
    ) -> None:
        self._check, self._refuse = check, refuse
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    async def _run(self) -> None:
        interval = settings.ANYMASK_WS_RECHECK_MS / 1000
        # A random first wait, so sockets opened together (a reconnect after a
        # restart) spread their checks over the interval.
        await asyncio.sleep(interval * random.random())  # noqa: S311 - not security
        while True:
            try:
                await self._check()
            except Forbidden as forbidden:
                await self._refuse(str(forbidden))
                return
            except Exception as error:  # a database hiccup: the next tick tries again
                logger.warning("socket access check failed (%s); retrying", type(error).__name__)
            await asyncio.sleep(interval)
