"""The answer to a websocket path no route matches (`ws/whatever/`, an id past
bigint): the handshake is refused with a plain close, and the log says so in one
debug line. Channels' router would raise instead: an HTTP 500 and an error with a
traceback for every probe."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


async def no_such_socket(scope: Any, receive: Any, send: Any) -> None:
    message = await receive()
    if message.get("type") == "websocket.connect":
        logger.debug("no websocket route for %s", scope.get("path", "?")[:200])
        await send({"type": "websocket.close"})
