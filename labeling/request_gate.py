"""Bound the HTTP requests a web process works on at once, and answer the rest
cleanly.

Under ASGI every request runs its Django code in a thread of its own, holding a
database connection while it does. Unbounded, a burst of API calls opened a
PostgreSQL connection each until the server refused them, and every refused one was
an HTTP 500. The gate lets ANYMASK_MAX_CONCURRENT_REQUESTS requests in; the others
wait their turn for up to ANYMASK_REQUEST_WAIT_SECONDS, then get 503 with
Retry-After, which clients (and our pages) retry. Websockets pass: they hold no
connection between messages, and the database pool bounds what they borrow.

`busy_response` is also the answer when a request inside the gate waited too long
for a pooled connection (`server_error`, Django's 500 handler): 503, not a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import server_error as django_server_error

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

RETRY_AFTER_SECONDS = 2
BUSY = "The server is busy; try again in a few seconds."


class RequestGate:
    """The slot is taken once the request's body has arrived (Django reads it all
    before its view runs), so a slow upload streaming in holds none: only requests
    ready to work wait for one."""

    def __init__(self, app: ASGIApp, *, limit: int, wait_seconds: float) -> None:
        self.app, self.limit, self.wait_seconds = app, limit, wait_seconds
        self._slots: asyncio.Semaphore | None = None  # made in the server's loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        slots = self._slots
        held = refused = False

        async def gated_receive() -> Message:
            nonlocal held, refused
            message = await receive()
            body_done = message["type"] == "http.request" and not message.get("more_body")
            if body_done and not held and not refused:
                try:
                    await asyncio.wait_for(slots.acquire(), self.wait_seconds)
                except TimeoutError:
                    refused = True
                    logger.warning(
                        "busy: %s %s refused with 503", scope.get("method"), scope.get("path")
                    )
                    await _send_busy(send, scope.get("path", ""))
                    # Django stops quietly on a disconnect, and answers nothing itself.
                    return {"type": "http.disconnect"}
                held = True
            return message

        async def gated_send(message: Message) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, gated_receive, gated_send)
        finally:
            if held:
                slots.release()


def wants_json(path: str) -> bool:
    return path.startswith("/api/")


async def _send_busy(send: Send, path: str) -> None:
    if wants_json(path):
        body, kind = json.dumps({"detail": BUSY}).encode(), b"application/json"
    else:
        body, kind = BUSY.encode(), b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", kind),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                (b"cache-control", b"no-store"),
                (b"x-content-type-options", b"nosniff"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def is_pool_timeout(error: BaseException | None) -> bool:
    """A request waited longer than ANYMASK_DB_POOL_TIMEOUT for a pooled connection
    (Django wraps psycopg_pool's PoolTimeout in its own OperationalError)."""
    while error is not None:
        if type(error).__name__ == "PoolTimeout":
            return True
        error = error.__cause__ or error.__context__
    return False


def busy_response(path: str) -> HttpResponse:
    response: HttpResponse
    if wants_json(path):
        response = JsonResponse({"detail": BUSY}, status=503)
    else:
        response = HttpResponse(BUSY, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """Django's 500 handler, except that a full connection pool is a 503."""
    if is_pool_timeout(sys.exc_info()[1]):
        # Expected under load: one line, not a traceback per refused request.
        logger.warning("busy: %s %s waited too long for a database connection",
                       request.method, request.path)  # fmt: skip
        response = busy_response(request.path)
        response._has_been_logged = True  # type: ignore[attr-defined]  # skip Django's
        return response
    return django_server_error(request, template_name)
