"""Refuse oversized HTTP request bodies before Django reads them.

Django's ASGI handler spools the whole body to a temporary file before any
middleware or view runs, so a size check in a view comes too late: a stranger could
fill the disk with one request to any URL. This guard sits in front of Django. It
answers 413 at once when Content-Length is over the limit, and stops a chunked body
as soon as it grows past it. Only upload endpoints get the large limit.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        default_limit: int,
        path_limits: list[tuple[str, int]],
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        self.path_limits = [(re.compile(pattern), limit) for pattern, limit in path_limits]

    def limit_for(self, path: str) -> int:
        for pattern, limit in self.path_limits:
            if pattern.fullmatch(path):
                return limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _reject(scope, send, limit)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLarge:
            # Django reads the whole body before it responds, so nothing was sent yet.
            await _reject(scope, send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reject(scope: Scope, send: Send, limit: int) -> None:
    body = json.dumps(
        {"error": f"The request is larger than the {limit / 2**20:.0f} MiB limit."}
    ).encode()
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in _security_headers(scope).items()
    ]
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _security_headers(scope: Scope) -> dict[str, str]:
    """The headers Django's middleware puts on every other answer (HSTS, nosniff,
    Referrer-Policy, COOP, X-Frame-Options, our CSP), got by running an empty
    response through those same middleware, so the 413 can never drift from them."""
    from django.core.handlers.asgi import ASGIRequest
    from django.http import HttpRequest, HttpResponse
    from django.middleware.clickjacking import XFrameOptionsMiddleware
    from django.middleware.security import SecurityMiddleware

    from labeling.middleware import content_security_policy

    blank = HttpResponse()

    def answer(request: HttpRequest) -> HttpResponse:
        return blank

    # The request is built from the scope alone: its body is never read.
    request = ASGIRequest({**scope, "method": "GET"}, io.BytesIO())
    # Outermost first, as in settings.MIDDLEWARE; SSL redirects are not applied to a refusal.
    stack = SecurityMiddleware(XFrameOptionsMiddleware(content_security_policy(answer)))
    stack.redirect = False
    response = stack(request)
    assert isinstance(response, HttpResponse)  # every part of the stack is synchronous
    return {
        name: value
        for name, value in response.headers.items()
        if name.lower() not in {"content-type", "content-length"}
    }
