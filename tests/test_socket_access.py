"""The labeling socket's per-message access check (labeling/realtime/access.py).

A repeat check is one query; every way access can end still ends it at the next
message, because each one changes a row the fingerprint reads. The socket-level
behaviour (reply `forbidden`, close 4403) is in test_consumer.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labeling.models import EmbeddingStatus, Image, Membership, Role
from labeling.realtime.access import AccessCheck, Forbidden
from tests.conftest import Personas, image_row


def login(personas: Personas) -> tuple[Client, str]:
    client = Client()
    client.force_login(personas.annotator)
    return client, str(client.cookies[django_settings.SESSION_COOKIE_NAME].value)


@pytest.fixture
def image(personas: Personas) -> Image:
    return image_row(personas.project, 1)


def test_a_repeat_check_is_one_query_and_gives_the_same_answer(
    personas: Personas, image: Image
) -> None:
    _, key = login(personas)
    check = AccessCheck(key, personas.annotator.pk, image.pk)
    with CaptureQueriesContext(connection) as first:
        allowed = check()
    assert allowed.user == personas.annotator and allowed.access.role == Role.ANNOTATOR
    with CaptureQueriesContext(connection) as again:
        assert check() is allowed
    assert len(again.captured_queries) == 1 < len(first.captured_queries)
    with CaptureQueriesContext(connection) as fresh:
        assert check(fresh=True) is not allowed  # writes always get the full check
    assert len(fresh.captured_queries) == len(first.captured_queries)


def _logout(client: Client, personas: Personas, image: Image) -> None:
    client.logout()


def _expire(client: Client, personas: Personas, image: Image) -> None:
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))


def _new_password(client: Client, personas: Personas, image: Image) -> None:
    personas.annotator.set_password("something else entirely")
    personas.annotator.save()


def _deactivate(client: Client, personas: Personas, image: Image) -> None:
    personas.annotator.is_active = False
    personas.annotator.save()


def _remove(client: Client, personas: Personas, image: Image) -> None:
    Membership.objects.filter(user=personas.annotator).delete()


def _delete_image(client: Client, personas: Personas, image: Image) -> None:
    image.delete()


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (_logout, "no longer logged in"),
        (_expire, "no longer logged in"),
        (_new_password, "no longer logged in"),
        (_deactivate, "no longer logged in"),
        (_remove, "no longer have access"),
        (_delete_image, "no longer exists"),
    ],
)
def test_access_that_ends_is_refused_at_the_next_check(
    personas: Personas,
    image: Image,
    change: Callable[[Client, Personas, Image], None],
    detail: str,
) -> None:
    client, key = login(personas)
    check = AccessCheck(key, personas.annotator.pk, image.pk)
    check()
    check()  # answered from the fingerprint
    change(client, personas, image)
    with pytest.raises(Forbidden, match=detail):
        check()


def test_a_new_role_or_embedding_status_is_seen_at_the_next_check(
    personas: Personas, image: Image
) -> None:
    _, key = login(personas)
    check = AccessCheck(key, personas.annotator.pk, image.pk)
    assert check().image.embedding_status == EmbeddingStatus.PENDING
    Membership.objects.filter(user=personas.annotator).update(role=Role.REVIEWER)
    assert check().access.role == Role.REVIEWER
    Image.objects.filter(pk=image.pk).update(embedding_status=EmbeddingStatus.READY)
    assert check().image.embedding_status == EmbeddingStatus.READY


def test_another_users_session_is_refused(personas: Personas, image: Image) -> None:
    _, key = login(personas)  # annie's session, presented for the owner's id
    with pytest.raises(Forbidden, match="no longer logged in"):
        AccessCheck(key, personas.owner.pk, image.pk)()
