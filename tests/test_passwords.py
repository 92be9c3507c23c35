"""Password change and reset: Django's own views, our pages, email through the
configured backend, links from the login page and the user menu."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD, Personas

NEW_PASSWORD = "violet-kayak-harbour-1987"


@pytest.fixture(autouse=True)
def _no_reset_budget(settings: Any) -> None:
    # The reset budget lives in the cache, shared by every run in CI (Redis): these
    # tests reuse addresses, so only the test of the budget keeps one.
    settings.ANYMASK_PASSWORD_RESETS_PER_HOUR = 1_000_000


def test_the_login_page_links_to_reset_and_the_menu_to_change(personas: Personas) -> None:
    assert reverse("password_reset") in Client().get(reverse("login")).content.decode()
    menu = personas.client("annotator").get("/").content.decode()
    assert reverse("password_change") in menu


def test_changing_the_password_keeps_me_in_and_logs_my_other_sessions_out(
    personas: Personas,
) -> None:
    here, elsewhere = Client(), Client()
    for client in (here, elsewhere):
        assert client.login(username="annie", password=PASSWORD)
    page = here.get(reverse("password_change"))
    assert page.status_code == 200 and "Change password" in page.content.decode()
    response = here.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response["Location"] == reverse("password_change_done")
    assert "Your password was changed" in here.get(response["Location"]).content.decode()
    assert User.objects.get(username="annie").check_password(NEW_PASSWORD)
    assert here.get("/").status_code == 200
    assert elsewhere.get("/").status_code == 302  # sent to log in


def test_changing_needs_the_old_password_and_a_strong_new_one(personas: Personas) -> None:
    client = personas.client("annotator")
    wrong_old = client.post(
        reverse("password_change"),
        {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert "Your old password was entered incorrectly" in wrong_old.content.decode()
    weak = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "password", "new_password2": "password"},
    )
    assert "too common" in weak.content.decode()
    assert User.objects.get(username="annie").check_password(PASSWORD)


def test_changing_needs_a_login(db: None) -> None:
    response = Client().get(reverse("password_change"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_reset_is_emailed_and_sets_a_new_password_once(personas: Personas) -> None:
    visitor = Client()
    response = visitor.post(reverse("password_reset"), {"email": "annie@example.com"})
    assert response["Location"] == reverse("password_reset_done")
    assert "Check your email" in visitor.get(response["Location"]).content.decode()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["annie@example.com"]
    assert mail.outbox[0].subject == "Reset your Anymask password"
    found = re.search(r"http://testserver(/accounts/password/reset/\S+/)", str(mail.outbox[0].body))
    assert found is not None
    link = found.group(1)
    form = visitor.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    done = visitor.post(
        form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert done["Location"] == reverse("password_reset_complete")
    assert User.objects.get(username="annie").check_password(NEW_PASSWORD)
    used = Client().get(link, follow=True)
    assert "This reset link is not valid" in used.content.decode()


def test_a_reset_for_an_unknown_address_answers_the_same_and_sends_nothing(
    personas: Personas,
) -> None:
    known = Client().post(reverse("password_reset"), {"email": "annie@example.com"})
    unknown = Client().post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert len(mail.outbox) == 1


def test_the_reset_form_cannot_flood_an_inbox(personas: Personas, settings: Any) -> None:
    settings.ANYMASK_PASSWORD_RESETS_PER_HOUR = 2
    email = f"{uuid.uuid4().hex[:10]}@example.com"  # the cache is shared: a fresh address
    User.objects.filter(pk=personas.reviewer.pk).update(email=email)
    where = f"10.200.{uuid.uuid4().int % 256}.{uuid.uuid4().int % 256}"
    answers = [
        Client(REMOTE_ADDR=where).post(reverse("password_reset"), {"email": email})
        for _ in range(4)
    ]
    assert {a["Location"] for a in answers} == {reverse("password_reset_done")}
    assert len(mail.outbox) == 2  # the third and fourth asked the same, and sent nothing


def test_guessing_the_old_password_is_paused_like_a_login(
    personas: Personas, settings: Any
) -> None:
    """A stolen session must not be a way to guess the password: after the login
    bar's failures the change is refused, even with the right old password."""
    settings.ANYMASK_LOGIN_FAILURES = 3
    settings.ANYMASK_LOGIN_LOCK_SECONDS = 60
    client = Client(REMOTE_ADDR=f"10.77.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}")
    assert client.login(username="annie", password=PASSWORD)
    url = reverse("password_change")

    def change(old: str) -> Any:
        return client.post(
            url, {"old_password": old, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
        )

    assert change("guess-1").status_code == 200
    assert change("guess-2").status_code == 200
    paused = change("guess-3")
    assert paused.status_code == 429 and int(paused["Retry-After"]) > 0
    assert "Too many" in paused.content.decode() or "try again" in paused.content.decode().lower()
    right = change(PASSWORD)
    assert right.status_code == 429
    assert User.objects.get(username="annie").check_password(PASSWORD)
