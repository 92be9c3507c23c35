"""Websocket routes (HTTP routes are in `labeling.urls`)."""

from __future__ import annotations

from django.urls import re_path

from labeling.realtime.image import ImageConsumer
from labeling.realtime.project import ProjectConsumer
from labeling.realtime.unknown import no_such_socket

websocket_urlpatterns = [
    # At most 18 digits: the id always fits the database's 64-bit integer.
    re_path(r"^ws/images/(?P<image_id>[0-9]{1,18})/$", ImageConsumer.as_asgi()),
    re_path(r"^ws/projects/(?P<project_id>[0-9]{1,18})/$", ProjectConsumer.as_asgi()),
    # Anything else is refused at the handshake, quietly (not a 500).
    re_path(r"", no_such_socket),  # type: ignore[arg-type]  # an ASGI app, not a view
]
