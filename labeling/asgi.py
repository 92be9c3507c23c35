"""ASGI entry point: HTTP through Django (behind a body-size guard and a gate on
concurrent requests), websockets through Channels: the Origin checked as Django's
CSRF check does (scheme, host and port: a page on another site must not drive a
logged-in user's socket), session authentication, then the routes in
`labeling.routing`."""

from __future__ import annotations

import logging
import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labeling.settings")
# Django must be set up before anything imports models (the sockets will).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from labeling.body_limit import BodySizeLimit  # noqa: E402
from labeling.log_context import ContextIds  # noqa: E402
from labeling.realtime.origin import SameOriginValidator  # noqa: E402
from labeling.request_gate import RequestGate  # noqa: E402
from labeling.request_metrics import RequestMetrics  # noqa: E402
from labeling.routing import websocket_urlpatterns  # noqa: E402

# At most ANYMASK_MAX_CONCURRENT_REQUESTS requests in Django at once; the rest wait
# briefly, then get 503 with Retry-After (a burst must not exhaust the database).
gated_app = RequestGate(
    django_asgi_app,  # type: ignore[arg-type]  # Django's stubs type messages as Mapping
    limit=settings.ANYMASK_MAX_CONCURRENT_REQUESTS,
    wait_seconds=settings.ANYMASK_REQUEST_WAIT_SECONDS,
)
http_app = BodySizeLimit(
    gated_app,
    default_limit=settings.ANYMASK_MAX_REQUEST_BYTES,
    # Multipart framing adds a little to the files themselves.
    path_limits=[
        (r"/projects/\d+/images/upload", settings.ANYMASK_MAX_UPLOAD_BYTES + 2**20),
        (r"/api/v1/projects/\d+/images", settings.ANYMASK_MAX_UPLOAD_BYTES + 2**20),
        (r"/projects/\d+/imports/", settings.ANYMASK_IMPORT_MAX_BYTES + 2**20),
    ],
)

websocket_app = SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))

# Outermost: every log line while serving a request or socket carries its id.
router = ContextIds(
    ProtocolTypeRouter({"http": RequestMetrics(http_app), "websocket": websocket_app})
)


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The router, plus the ASGI lifespan: at startup, warm the models in the
    background (labeling/realtime/warm_start.py); servers run without it get none."""
    if scope["type"] != "lifespan":
        await router(scope, receive, send)
        return
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            from labeling.realtime import warm_start

            try:
                warm_start.start()
            except Exception:  # a cold start is slower, not broken: serve anyway
                logging.getLogger(__name__).exception("could not start warming the models")
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            from labeling import metrics

            metrics.process_exited(os.getpid())  # its open-socket gauge no longer counts
            await send({"type": "lifespan.shutdown.complete"})
            return
