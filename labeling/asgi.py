"""ASGI entry point: HTTP through Django (behind a body-size guard), websockets
through Channels: the Origin checked as Django's CSRF check does (scheme, host and
port: a page on another site must not drive a logged-in user's socket), session
authentication, then the routes in `labeling.routing`."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labeling.settings")
# Django must be set up before anything imports models (the sockets will).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from labeling.body_limit import BodySizeLimit  # noqa: E402
from labeling.realtime.origin import SameOriginValidator  # noqa: E402
from labeling.routing import websocket_urlpatterns  # noqa: E402

http_app = BodySizeLimit(
    django_asgi_app,  # type: ignore[arg-type]  # Django's stubs type messages as Mapping
    default_limit=settings.ANYMASK_MAX_REQUEST_BYTES,
    # Multipart framing adds a little to the files themselves.
    path_limits=[
        (r"/projects/\d+/images/upload", settings.ANYMASK_MAX_UPLOAD_BYTES + 2**20),
        (r"/api/v1/projects/\d+/images", settings.ANYMASK_MAX_UPLOAD_BYTES + 2**20),
        (r"/projects/\d+/imports/", settings.ANYMASK_IMPORT_MAX_BYTES + 2**20),
    ],
)

websocket_app = SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))

application = ProtocolTypeRouter({"http": http_app, "websocket": websocket_app})
