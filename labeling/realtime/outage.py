"""What a socket does while the channel layer (Redis) is unreachable.

Without this, the layer's `ConnectionError` escapes the consumer: an open socket is
dropped with no close code (the page cannot tell a restart from a refusal), and a
handshake during the outage is an HTTP 500 with a traceback per attempt. Here an
open socket is closed with `CLOSE_RETRY` (4503: the page reconnects with backoff
and says why), a handshake is refused (a plain close before accept), and the log
gets one warning line each.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import Any

from redis.exceptions import RedisError

from labeling.realtime.protocol import CLOSE_RETRY

logger = logging.getLogger(__name__)

# What the Redis layer raises when Redis is down or restarting (redis-py wraps
# socket errors in its ConnectionError; OSError covers a raw one).
LAYER_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)


class LayerOutage:
    """Mixin for a Channels websocket consumer (first in the bases)."""

    accepted = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)  # type: ignore[misc]
        except LAYER_ERRORS as error:
            path = scope.get("path", "?")
            when = "open socket" if self.accepted else "handshake"
            logger.warning("%s %s: channel layer unreachable (%s)", when, path, error)
            with suppress(Exception):  # the client may be gone already
                await self.left(CLOSE_RETRY)
            message: dict[str, Any] = {"type": "websocket.close"}
            if self.accepted:
                message["code"] = CLOSE_RETRY
            with suppress(Exception):
                await send(message)

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        await super().accept(subprotocol, headers)  # type: ignore[misc]
        self.accepted = True

    async def left(self, code: int) -> None:
        """Let go of what the socket holds (rows, tasks); never raises a layer error."""
        raise NotImplementedError


async def quietly(call: Any) -> None:
    """Await a channel-layer call that may fail during an outage (group_discard, a
    presence push): what it would do no longer matters once the socket is gone."""
    with suppress(*LAYER_ERRORS):
        await call
