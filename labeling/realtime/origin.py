"""The websocket Origin check: the same rule as Django's CSRF origin check.

A page on another site must not drive a logged-in user's socket (the browser sends
the session cookie with any page's websocket). Channels' `AllowedHostsOriginValidator`
compares only the host, so `http://127.0.0.1:9999` or `https://localhost` passed for
a site at `http://127.0.0.1:8000`. Here an Origin passes, as in
`CsrfViewMiddleware`, when it is exactly this site's scheme, host and port (the Host
header, which must be in ALLOWED_HOSTS; `wss` or the trusted proxy header meaning
https), or is listed in CSRF_TRUSTED_ORIGINS (`https://*.example.com` matching
subdomains with that scheme). A missing Origin is refused: browsers always send one.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

logger = logging.getLogger(__name__)


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin1")
    return None


def _host(scope: Any) -> str | None:
    """The site's host as Django's `request.get_host()` would give it, or None when
    it is not an allowed host."""
    host = None
    if settings.USE_X_FORWARDED_HOST:
        host = _header(scope, b"x-forwarded-host")
    host = host or _header(scope, b"host")
    if not host:
        return None
    domain, _port = split_domain_port(host)
    return host if domain and validate_host(domain, settings.ALLOWED_HOSTS) else None


def _secure(scope: Any) -> bool:
    if scope.get("scheme") == "wss":
        return True
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy:
        name, expected = proxy
        # "HTTP_X_FORWARDED_PROTO" -> b"x-forwarded-proto"
        header = name.removeprefix("HTTP_").lower().replace("_", "-").encode()
        value = _header(scope, header)
        return value is not None and value.split(",")[0].strip() == expected
    return False


def origin_allowed(scope: Any) -> bool:
    origin = _header(scope, b"origin")
    if not origin or origin == "null":
        return False
    host = _host(scope)
    if host is not None and origin == f"{'https' if _secure(scope) else 'http'}://{host}":
        return True
    trusted = settings.CSRF_TRUSTED_ORIGINS
    if origin in (t for t in trusted if "*" not in t):
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    for pattern in trusted:
        if "*" in pattern:
            allowed = urlsplit(pattern)
            if allowed.scheme == parsed.scheme and is_same_domain(
                parsed.netloc, allowed.netloc.lstrip("*")
            ):
                return True
    return False


class SameOriginValidator:
    """ASGI middleware: a websocket from a foreign Origin is refused at the handshake."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if origin_allowed(scope):
            await self.application(scope, receive, send)
            return
        message = await receive()
        if message.get("type") == "websocket.connect":
            logger.info(
                "websocket %s refused: Origin %r is not this site",
                str(scope.get("path", "?"))[:200],
                (_header(scope, b"origin") or "")[:100],
            )
            await send({"type": "websocket.close"})
