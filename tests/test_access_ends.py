"""Access that ends ends both sockets, within 2 s, whether or not they send anything.

Each cause (logout, an expired session, deactivation, a password change, removal
from the project) is made the way another web process would make it: through the
database, with nothing said to the socket. The socket must find out itself (its
guard rechecks once a second, and every push is checked before it is relayed), stop
delivering, and close with 4403. Real ASGI application, real database and channel
layer (Redis when REDIS_URL is set).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from labeling.models import Image, Membership, Role
from labeling.services.annotations import do_create_annotation
from tests.conftest import Personas, image_row, off_loop
from tests.test_consumer import ORIGIN, LoopThread, Socket
from tests.test_project_socket import mask

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def runner() -> Iterator[LoopThread]:
    running = LoopThread()
    yield running
    running.close()


@pytest.fixture
def image(personas: Personas) -> Image:
    return image_row(personas.project, 1)


def logged_in(personas: Personas) -> tuple[Client, list[Any]]:
    """Annie's browser: a client with her session, and socket headers carrying it."""
    client = Client()
    client.force_login(personas.annotator)
    cookie = f"{django_settings.SESSION_COOKIE_NAME}={client.cookies['sessionid'].value}"
    headers = [(b"origin", ORIGIN), (b"host", b"127.0.0.1:8000"), (b"cookie", cookie.encode())]
    return client, headers


def open_socket(runner: LoopThread, kind: str, image: Image, headers: list[Any]) -> Socket:
    path = f"/ws/images/{image.pk}/" if kind == "image" else f"/ws/projects/{image.project_id}/"
    socket = Socket(runner, 0, headers, path=path)
    assert socket.connect()[0]
    assert socket.receive()["type"] == "hello"
    return socket


def push(image: Image, personas: Personas) -> None:
    """The owner saves a mask: every socket on the image and project hears of it."""
    off_loop(do_create_annotation, image, personas.owner, rle=mask(), source="manual")


def expect_pushed(socket: Socket, kind: str) -> None:
    message = socket.receive(timeout=5)
    assert message["type"] == ("annotation.created" if kind == "image" else "changed"), message


def expect_closed(socket: Socket, kind: str, timeout: float) -> None:
    """Nothing but (on the labeling socket) a `forbidden` error, then the 4403 close."""
    message = socket.receive(timeout=timeout)
    if kind == "image":
        assert message["type"] == "error" and message["code"] == "forbidden", message
        message = socket.receive(timeout=timeout)
    assert message == {"closed": 4403}


def _logout(client: Client, personas: Personas) -> None:
    client.logout()


def _expire(client: Client, personas: Personas) -> None:
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))


def _new_password(client: Client, personas: Personas) -> None:
    personas.annotator.set_password("something else entirely")
    personas.annotator.save()


def _deactivate(client: Client, personas: Personas) -> None:
    personas.annotator.is_active = False
    personas.annotator.save()


def _remove(client: Client, personas: Personas) -> None:
    Membership.objects.filter(user=personas.annotator).delete()


CAUSES = [_logout, _expire, _new_password, _deactivate, _remove]
KINDS = ["image", "project"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cause", CAUSES, ids=lambda c: c.__name__.strip("_"))
def test_an_idle_socket_closes_within_two_seconds_of_access_ending(
    runner: LoopThread,
    personas: Personas,
    image: Image,
    kind: str,
    cause: Callable[[Client, Personas], None],
) -> None:
    client, headers = logged_in(personas)
    socket = open_socket(runner, kind, image, headers)
    push(image, personas)
    expect_pushed(socket, kind)  # it works before
    started = time.monotonic()
    cause(client, personas)
    expect_closed(socket, kind, timeout=3)
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cause", CAUSES, ids=lambda c: c.__name__.strip("_"))
def test_no_push_is_delivered_once_access_has_ended(
    runner: LoopThread,
    personas: Personas,
    image: Image,
    settings: Any,
    kind: str,
    cause: Callable[[Client, Personas], None],
) -> None:
    # The guard sleeps through this test: only the check before each push stands
    # between the mask and a user who has lost access.
    settings.ANYMASK_WS_RECHECK_MS = 600_000
    client, headers = logged_in(personas)
    socket = open_socket(runner, kind, image, headers)
    cause(client, personas)
    push(image, personas)
    expect_closed(socket, kind, timeout=5)


def test_presence_and_embedding_news_stop_too(
    runner: LoopThread, personas: Personas, image: Image, settings: Any
) -> None:
    settings.ANYMASK_WS_RECHECK_MS = 600_000
    client, headers = logged_in(personas)
    socket = open_socket(runner, "image", image, headers)
    socket.skip_presence = False
    assert socket.receive(5) == {"type": "presence", "viewers": ["annie"]}
    client.logout()
    owner = Client()
    owner.force_login(personas.owner)
    cookie = f"{django_settings.SESSION_COOKIE_NAME}={owner.cookies['sessionid'].value}"
    other = [(b"origin", ORIGIN), (b"host", b"127.0.0.1:8000"), (b"cookie", cookie.encode())]
    open_socket(runner, "image", image, other)  # the owner arrives: a presence push
    expect_closed(socket, "image", timeout=5)


@pytest.mark.parametrize("kind", KINDS)
def test_a_role_that_still_may_view_keeps_the_socket(
    runner: LoopThread, personas: Personas, image: Image, kind: str
) -> None:
    """Every role may view: annotator to reviewer keeps the socket and its pushes; the
    labeling page is told the new role within 2 s (and the socket then refuses
    prompts, test_consumer.py)."""
    _client, headers = logged_in(personas)
    socket = open_socket(runner, kind, image, headers)
    started = time.monotonic()
    Membership.objects.filter(user=personas.annotator).update(role=Role.REVIEWER)
    if kind == "image":
        told = socket.receive(timeout=3)
        abilities = ["review", "view", "view_quality"]
        assert told == {"type": "role", "role": "reviewer", "abilities": abilities}
        assert time.monotonic() - started < 2.0
    else:
        time.sleep(1.5)  # past a guard check
    push(image, personas)
    expect_pushed(socket, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_a_logout_elsewhere_leaves_other_sessions_open(
    runner: LoopThread, personas: Personas, image: Image, kind: str
) -> None:
    _laptop, headers = logged_in(personas)
    phone, _ = logged_in(personas)
    socket = open_socket(runner, kind, image, headers)
    phone.logout()  # her other session
    time.sleep(1.5)
    push(image, personas)
    expect_pushed(socket, kind)
