"""Which request or socket a log line belongs to, through a contextvar.

An ASGI wrapper (outermost, in labeling/asgi.py) gives each HTTP request an id (the
client's or proxy's X-Request-ID when it is a short token, else a fresh one) and
echoes it in the X-Request-ID response header; each websocket gets a socket id.
The contextvar is set for the whole of the request or socket, so every line logged
while serving it (Django's own request logger, a view, a socket handler, code run
in a thread through sync_to_async, which copies the context) carries the id through
`labeling.log_filters.WithContextIds`.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from typing import Any

request_id: ContextVar[str | None] = ContextVar("anymask_request_id", default=None)
socket_id: ContextVar[str | None] = ContextVar("anymask_socket_id", default=None)

HEADER = b"x-request-id"
# A proxy's id (nginx's $request_id is 32 hex digits, a UUID is 36): short tokens
# only, so a client cannot put newlines or kilobytes into every log line.
_ACCEPTED = re.compile(rb"[A-Za-z0-9._-]{1,64}")


def new_id() -> str:
    return secrets.token_hex(8)


def incoming_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == HEADER and _ACCEPTED.fullmatch(value):
            return value.decode("ascii")
    return new_id()


class ContextIds:
    """ASGI middleware: a request id per HTTP request, a socket id per websocket."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            rid = incoming_id(scope.get("headers", []))
            token = request_id.set(rid)

            async def send_with_id(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    headers = [
                        (name, value)
                        for name, value in message.get("headers", [])
                        if name.lower() != HEADER
                    ]
                    message = {**message, "headers": [*headers, (HEADER, rid.encode())]}
                await send(message)

            try:
                await self.app(scope, receive, send_with_id)
            finally:
                request_id.reset(token)
        elif scope["type"] == "websocket":
            token = socket_id.set(new_id())
            try:
                await self.app(scope, receive, send)
            finally:
                socket_id.reset(token)
        else:
            await self.app(scope, receive, send)
