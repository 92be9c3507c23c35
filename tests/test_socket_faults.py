"""Small faults at the websocket door: unknown paths, foreign origins, boolean points.

Through the real ASGI application (Origin check, session, routing, consumer) with
the real database and channel layer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from labeling.models import Image
from tests.conftest import Personas, image_row
from tests.test_consumer import LoopThread, Socket, headers_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def runner() -> Iterator[LoopThread]:
    running = LoopThread()
    yield running
    running.close()


@pytest.fixture
def image(personas: Personas) -> Image:
    return image_row(personas.project, 1)


@pytest.mark.parametrize(
    "path",
    [
        "/ws/whatever/",
        "/ws/images/9223372036854775808/",  # past bigint
        "/ws/projects/99999999999999999999999/",
        "/ws/images/abc/",
        "/",
    ],
)
def test_an_unknown_socket_path_is_closed_quietly(
    runner: LoopThread, personas: Personas, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    socket = Socket(runner, 0, headers_for(personas.owner), path=path)
    assert socket.connect()[0] is False  # a clean refusal, not an exception (a 500)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize(
    "origin",
    [
        b"http://127.0.0.1:9999",  # another port
        b"https://127.0.0.1:8000",  # another scheme
        b"https://localhost",  # an allowed host, but not this site
        b"http://localhost:8000",
        b"http://127.0.0.1:8000.evil.example",
        b"https://evil.example",
        b"null",
    ],
)
@pytest.mark.parametrize("kind", ["image", "project"])
def test_it_refuses_an_origin_that_is_not_this_site(
    runner: LoopThread, personas: Personas, image: Image, origin: bytes, kind: str
) -> None:
    path = f"/ws/images/{image.pk}/" if kind == "image" else f"/ws/projects/{image.project_id}/"
    socket = Socket(runner, 0, headers_for(personas.owner, origin=origin), path=path)
    assert socket.connect()[0] is False
    same_site = Socket(runner, 0, headers_for(personas.owner), path=path)
    assert same_site.connect()[0] is True


def test_it_refuses_a_socket_without_an_origin(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    headers = [h for h in headers_for(personas.owner) if h[0] != b"origin"]
    assert Socket(runner, image.pk, headers).connect()[0] is False


def test_it_refuses_a_host_that_is_not_allowed(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    headers: list[Any] = [
        (b"host", b"evil.example") if name == b"host" else (name, value)
        for name, value in headers_for(personas.owner, origin=b"http://evil.example")
    ]
    assert Socket(runner, image.pk, headers).connect()[0] is False


def test_trusted_origins_match_scheme_and_subdomain(
    runner: LoopThread, personas: Personas, image: Image, settings: Any
) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.com", "https://labels.example.org"]
    results = {}
    for origin in (
        "https://app.example.com",
        "http://app.example.com",
        "https://labels.example.org",
        "https://labels.example.org:8443",
        "https://example.com.evil.example",
    ):
        socket = Socket(runner, image.pk, headers_for(personas.owner, origin=origin.encode()))
        results[origin] = socket.connect()[0]
    assert results == {
        "https://app.example.com": True,
        "http://app.example.com": False,
        "https://labels.example.org": True,
        "https://labels.example.org:8443": False,
        "https://example.com.evil.example": False,
    }


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"points": [[True, False]], "labels": [1]}, "points"),
        ({"points": [[10, True]], "labels": [1]}, "points"),
        ({"points": [[3, 4]], "labels": [True]}, "labels"),
        ({"box": [False, 0, 5, True]}, "box"),
    ],
)
def test_it_refuses_booleans_in_a_prompt(
    runner: LoopThread, personas: Personas, image: Image, fields: dict[str, Any], name: str
) -> None:
    socket = Socket(runner, image.pk, headers_for(personas.annotator))
    assert socket.connect()[0]
    assert socket.receive()["type"] == "hello"
    reply = socket.request({"type": "prompt", "seq": 7, **fields})
    assert reply == {
        "type": "error",
        "seq": 7,
        "code": "invalid_prompt",
        "detail": f"`{name}` must hold numbers, not true or false.",
    }
    assert socket.request({"type": "ping", "seq": 8}) == {"type": "pong", "seq": 8}
