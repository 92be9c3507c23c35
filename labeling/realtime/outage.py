"""What a socket does while the channel layer (Redis) is unreachable, or restarted.

Without this, the layer's `ConnectionError` escapes the consumer: an open socket is
dropped with no close code (the page cannot tell a restart from a refusal), and a
handshake during the outage is an HTTP 500 with a traceback per attempt. Here an
open socket is closed with `CLOSE_RETRY` (4503: the page reconnects with backoff
and says why), a handshake is refused (a plain close before accept), and the log
gets one warning line each. The same door catches a send to a client that has
just left (uvicorn raises), so the socket's rows and tasks are let go of either way.

A restart quicker than a socket's blocking read goes unseen by the read (redis-py
reconnects), but a Redis without persistence comes back without the groups: the
socket would stay open and hear nothing. So `GroupWatch` looks every few seconds
whether the socket is still in its groups, and closes it with 4503 when not (the
page reconnects, and its `hello` brings back everything it missed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from redis.exceptions import RedisError

from labeling import metrics
from labeling.realtime import shutdown
from labeling.realtime.protocol import CLOSE_RESTARTING, CLOSE_RETRY

logger = logging.getLogger(__name__)

# What the Redis layer raises when Redis is down or restarting (redis-py wraps
# socket errors in its ConnectionError), and what the server raises for a frame
# sent to a client that is gone (an OSError).
LAYER_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)


class LayerOutage:
    """Mixin for a Channels websocket consumer (first in the bases)."""

    accepted = False
    socket_kind = "other"  # the open-sockets gauge's label
    close_code: int | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self._serve(scope, receive, send)
        finally:
            if self.accepted:
                metrics.OPEN_SOCKETS.labels(self.socket_kind).dec()
                logger.info("socket closed: code %s", self.close_code)

    async def _serve(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)  # type: ignore[misc]
        except LAYER_ERRORS as error:
            path = scope.get("path", "?")
            if isinstance(error, RedisError):
                when = "open socket" if self.accepted else "handshake"
                logger.warning("%s %s: channel layer unreachable (%s)", when, path, error)
            else:
                # uvicorn's ClientDisconnected (an OSError): a frame sent to a client
                # that just left. Channels would end the consumer without running its
                # disconnect, leaving (among others) its presence row behind.
                logger.debug("socket %s: the client left (%s)", path, type(error).__name__)
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
        metrics.OPEN_SOCKETS.labels(self.socket_kind).inc()
        shutdown.track(self)
        # With the socket id (labeling/log_context.py): this and every later line of
        # this socket can be followed through the log.
        logger.info("socket open: %s", self.scope.get("path", "?"))  # type: ignore[attr-defined]

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        shutdown.forget(self)
        self.close_code = message.get("code")
        await super().websocket_disconnect(message)  # type: ignore[misc]

    async def close_for_restart(self) -> None:
        """This process is stopping (labeling/realtime/shutdown.py): close with 4012
        so the page reconnects at once, to another node."""
        if not getattr(self, "closed", False):
            self.closed = True
            await self.close(code=CLOSE_RESTARTING)  # type: ignore[attr-defined]

    async def left(self, code: int) -> None:
        """Let go of what the socket holds (rows, tasks); never raises a layer error."""
        raise NotImplementedError

    async def close_for_retry(self) -> None:
        """The groups are gone (or Redis is, or the database did not answer a push's
        check): close with 4503 so the page reconnects and catches up."""
        if not getattr(self, "closed", False):
            self.closed = True
            await self.close(code=CLOSE_RETRY)  # type: ignore[attr-defined]


async def quietly(call: Any) -> None:
    """Await a channel-layer call that may fail during an outage (group_discard, a
    presence push): what it would do no longer matters once the socket is gone."""
    with suppress(*LAYER_ERRORS):
        await call


GROUP_CHECK_SECONDS = 3.0


async def still_in_groups(layer: Any, groups: list[str], channel: str) -> bool:
    """Whether `channel` is still a member of every group, on the Redis layer (whose
    groups a restart without persistence loses). Other layers keep their groups as
    long as the process lives: always True."""
    try:
        from channels_redis.core import RedisChannelLayer
    except ImportError:  # pragma: no cover - channels_redis is a dependency
        return True
    if not isinstance(layer, RedisChannelLayer):
        return True
    for group in groups:
        # channels_redis keeps a group as a sorted set of channel names (group_add).
        connection = layer.connection(layer.consistent_hash(group))
        if await connection.zscore(layer._group_key(group), channel) is None:
            return False
    return True


class GroupWatch:
    """Every GROUP_CHECK_SECONDS: is the socket still in its groups, and is the layer
    reachable? If not, `lost()` is awaited once (the consumer closes with 4503)."""

    def __init__(
        self, layer: Any, groups: list[str], channel: str, lost: Callable[[], Awaitable[None]]
    ) -> None:
        self.layer, self.groups, self.channel, self._lost = layer, groups, channel, lost
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(GROUP_CHECK_SECONDS)
            try:
                intact = await still_in_groups(self.layer, self.groups, self.channel)
            except LAYER_ERRORS as error:
                logger.warning("socket %s: channel layer unreachable (%s)", self.channel, error)
                intact = False
            else:
                if not intact:
                    logger.warning(
                        "socket %s: no longer in its groups (Redis restarted?); closing",
                        self.channel,
                    )
            if not intact:
                await self._lost()
                return
