"""Invitations: a project admin invites an email address; its owner sets a password
(or logs in) through a one-time link and joins. Links expire, and can be revoked
and resent. Adding by email never tells whether an account exists."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from labeling.models import Invitation, InvitationStatus, Membership, Role
from tests.api_helpers import api_for
from tests.conftest import PASSWORD, Personas, make_user

NEW_PASSWORD = "violet-kayak-harbour-1987"
LINK = re.compile(r"http://testserver/invitations/[A-Za-z0-9_-]+/")


def members_url(personas: Personas) -> str:
    return reverse("project-members", args=[personas.project.pk])


def invite(
    personas: Personas, capture: Any, email: str, role: str = "annotator"
) -> tuple[str, str]:
    """Invite as the owner; return (the link shown on the page, the members page)."""
    client = personas.client("owner")
    with capture(execute=True):
        response = client.post(members_url(personas), {"user": email, "role": role})
    assert response.status_code == 302
    page = client.get(members_url(personas)).content.decode()
    shown = LINK.findall(page)
    assert len(shown) == 1, "the new link is shown once, for copying"
    return shown[0], page


@pytest.fixture
def capture(django_capture_on_commit_callbacks: Any) -> Any:
    return django_capture_on_commit_callbacks


def test_inviting_shows_the_link_once_emails_it_and_keeps_only_its_digest(
    personas: Personas, capture: Any
) -> None:
    link, page = invite(personas, capture, "Newcomer@Example.com", "reviewer")
    assert "Newcomer@Example.com as reviewer" in page
    # Shown once: the next visit no longer has it.
    again = personas.client("owner").get(members_url(personas)).content.decode()
    assert not LINK.findall(again)
    assert "Newcomer@Example.com" in again  # still listed as pending, with its buttons
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["Newcomer@Example.com"] and link in sent.body
    assert "Streets" in sent.subject
    token = link.rstrip("/").rsplit("/", 1)[1]
    row = Invitation.objects.get()
    assert token not in row.token_hash and len(row.token_hash) == 64
    assert row.role == Role.REVIEWER and row.invited_by == personas.owner


def test_the_answer_reads_the_same_whether_or_not_the_address_has_an_account(
    personas: Personas, capture: Any
) -> None:
    make_user("dana")  # dana@example.com has an account; nobody@example.com has none
    link_known, page_known = invite(personas, capture, "dana@example.com")
    link_unknown, page_unknown = invite(personas, capture, "nobody@example.com")

    def shape(page: str, email: str, link: str) -> str:
        page = page.replace(link, "LINK").replace(email, "EMAIL")
        page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)
        # The pending list holds both addresses in either case; keep only the answer.
        return page.split("<h2>Pending invitations</h2>")[0]

    assert shape(page_known, "dana@example.com", link_known) == shape(
        page_unknown, "nobody@example.com", link_unknown
    )
    # Nobody was added behind the invitation's back: dana joins only by accepting.
    assert not Membership.objects.filter(project=personas.project, user__username="dana").exists()


def test_a_new_person_sets_a_password_and_joins_with_the_role(
    personas: Personas, capture: Any
) -> None:
    link, _ = invite(personas, capture, "newcomer@example.com", "reviewer")
    visitor = Client()
    page = visitor.get(link)
    assert page.status_code == 200
    assert (
        "Join Streets" in page.content.decode() and "newcomer@example.com" in page.content.decode()
    )
    response = visitor.post(
        link,
        {"username": "newcomer", "first_name": "New Comer", "password1": NEW_PASSWORD,
         "password2": NEW_PASSWORD},
    )  # fmt: skip
    assert response.status_code == 302
    assert response["Location"] == reverse("project-detail", args=[personas.project.pk])
    user = User.objects.get(username="newcomer")
    assert user.email == "newcomer@example.com" and user.check_password(NEW_PASSWORD)
    assert Membership.objects.get(project=personas.project, user=user).role == Role.REVIEWER
    # Logged in already: the project opens.
    assert visitor.get(response["Location"]).status_code == 200
    # The link is spent.
    used = Client().get(link)
    assert used.status_code == 410
    assert "already been used" in used.content.decode()
    assert Invitation.objects.get().status == InvitationStatus.ACCEPTED


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"username": "n", "password1": "password", "password2": "password"}, "too common"),
        ({"username": "n", "password1": NEW_PASSWORD, "password2": "other"}, "didn"),
        ({"username": "annie", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, "already"),
        ({"username": "x", "password1": "newcomer1", "password2": "newcomer1"}, "too similar"),
    ],
)
def test_it_refuses_a_weak_or_taken_choice_and_keeps_the_link(
    personas: Personas, capture: Any, form: dict[str, str], message: str
) -> None:
    link, _ = invite(personas, capture, "newcomer@example.com")
    response = Client().post(link, form)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not User.objects.filter(email="newcomer@example.com").exists()
    assert Invitation.objects.get().status == InvitationStatus.PENDING


def test_an_address_with_an_account_logs_in_then_joins(personas: Personas, capture: Any) -> None:
    dana = make_user("dana")
    link, _ = invite(personas, capture, "DANA@example.com")
    visitor = Client()
    page = visitor.get(link).content.decode()
    assert "Log in to join" in page and 'name="password1"' not in page
    # No second account can be made for the address, even by posting the form.
    refused = visitor.post(
        link, {"username": "dana2", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert "Log in to join" in refused.content.decode()
    assert not User.objects.filter(username="dana2").exists()
    # The login link comes back here.
    login_url = f"{reverse('login')}?next={link.removeprefix('http://testserver')}"
    assert login_url in page
    logged_in = visitor.post(
        login_url,
        {"username": "dana", "password": PASSWORD, "next": link[len("http://testserver") :]},
    )
    assert logged_in["Location"] == link.removeprefix("http://testserver")
    assert "Join Streets" in visitor.get(link).content.decode()
    joined = visitor.post(link)
    assert joined.status_code == 302
    assert Membership.objects.get(project=personas.project, user=dana).role == Role.ANNOTATOR


def test_it_tells_someone_logged_in_as_another_user_and_joins_nobody(
    personas: Personas, capture: Any
) -> None:
    link, _ = invite(personas, capture, "newcomer@example.com")
    outsider = personas.client("outsider")
    page = outsider.get(link)
    assert page.status_code == 403
    text = page.content.decode()
    assert "for newcomer@example.com" in text and "logged in as oscar" in text
    assert outsider.post(link).status_code == 403
    assert not Membership.objects.filter(project=personas.project, user=personas.outsider).exists()
    assert Invitation.objects.get().status == InvitationStatus.PENDING


def test_an_invited_member_is_told_and_keeps_their_role(personas: Personas, capture: Any) -> None:
    link, _ = invite(personas, capture, "annie@example.com", "admin")
    response = personas.client("annotator").post(link)
    assert response.status_code == 302
    membership = Membership.objects.get(project=personas.project, user=personas.annotator)
    assert membership.role == Role.ANNOTATOR  # a link never promotes an existing member


def test_an_expired_link_says_so(personas: Personas, capture: Any, settings: Any) -> None:
    settings.ANYMASK_INVITATION_DAYS = 3
    link, _ = invite(personas, capture, "newcomer@example.com")
    row = Invitation.objects.get()
    lifetime = row.expires_at - row.created_at
    assert timedelta(days=3) - timedelta(seconds=5) < lifetime <= timedelta(days=3)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    response = Client().get(link)
    assert response.status_code == 410
    assert "This invitation expired on" in response.content.decode()
    posted = Client().post(
        link, {"username": "late", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert posted.status_code == 410 and not User.objects.filter(username="late").exists()
    page = personas.client("owner").get(members_url(personas)).content.decode()
    assert "expired" in page  # the admin sees it, and can resend


def test_revoking_kills_the_link(personas: Personas, capture: Any) -> None:
    link, _ = invite(personas, capture, "newcomer@example.com")
    row = Invitation.objects.get()
    client = personas.client("owner")
    client.post(reverse("invitation-revoke", args=[personas.project.pk, row.pk]))
    response = Client().get(link)
    assert response.status_code == 410
    assert "withdrawn" in response.content.decode()
    page = client.get(members_url(personas)).content.decode()
    assert "Revoked the invitation to newcomer@example.com" in page
    assert 'data-invitation="newcomer@example.com"' not in page


def test_resending_makes_a_new_link_and_the_old_one_dies(personas: Personas, capture: Any) -> None:
    old_link, _ = invite(personas, capture, "newcomer@example.com", "reviewer")
    Invitation.objects.update(expires_at=timezone.now() - timedelta(days=1))  # even expired
    row = Invitation.objects.get()
    client = personas.client("owner")
    with capture(execute=True):
        client.post(reverse("invitation-resend", args=[personas.project.pk, row.pk]))
    new_links = LINK.findall(client.get(members_url(personas)).content.decode())
    assert len(new_links) == 1 and new_links[0] != old_link
    assert len(mail.outbox) == 2 and new_links[0] in mail.outbox[1].body
    old = Client().get(old_link)
    assert old.status_code == 410 and "replaced by a newer invitation" in old.content.decode()
    assert Client().get(new_links[0]).status_code == 200
    fresh = Invitation.objects.get(status=InvitationStatus.PENDING)
    assert fresh.role == Role.REVIEWER and fresh.expires_at > timezone.now()


def test_inviting_the_same_address_again_resends(personas: Personas, capture: Any) -> None:
    first, _ = invite(personas, capture, "newcomer@example.com")
    second, _ = invite(personas, capture, "NEWCOMER@example.com", "reviewer")
    assert Invitation.objects.filter(status=InvitationStatus.PENDING).count() == 1
    assert Client().get(first).status_code == 410
    assert Client().get(second).status_code == 200


def test_an_unknown_or_overlong_link_is_a_plain_404(db: None) -> None:
    for token in ("nope", "x" * 5000):
        response = Client().get(f"/invitations/{token}/")
        assert response.status_code == 404
        assert "not valid" in response.content.decode()


def test_it_refuses_an_invalid_address(personas: Personas) -> None:
    response = personas.client("owner").post(
        members_url(personas), {"user": "someone@", "role": "annotator"}
    )
    assert response.status_code == 400
    assert not Invitation.objects.exists()


def test_another_projects_invitation_cannot_be_revoked_through_mine(
    personas: Personas, capture: Any
) -> None:
    invite(personas, capture, "newcomer@example.com")
    row = Invitation.objects.get()
    own = personas.outsider.memberships.get().project_id
    response = personas.client("outsider").post(reverse("invitation-revoke", args=[own, row.pk]))
    assert response.status_code == 302
    assert Invitation.objects.get().status == InvitationStatus.PENDING


def test_a_mail_server_that_fails_still_leaves_the_link_to_copy(
    personas: Personas, capture: Any, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 1
    link, page = invite(personas, capture, "newcomer@example.com")
    assert "emailed to newcomer@example.com" in page
    assert Client().get(link).status_code == 200


def test_a_refused_link_is_logged_without_its_secret(
    personas: Personas, capture: Any, caplog: pytest.LogCaptureFixture
) -> None:
    link, _ = invite(personas, capture, "newcomer@example.com")
    token = link.rstrip("/").rsplit("/", 1)[1]
    with caplog.at_level("INFO"):
        assert personas.client("outsider").get(link).status_code == 403
        assert Client().get("/invitations/nope/").status_code == 404
    assert token not in caplog.text and "nope" not in caplog.text
    assert "Invitation link refused with 403" in caplog.text


def test_the_api_invites_lists_resends_and_revokes(personas: Personas, capture: Any) -> None:
    client = api_for(personas.owner)
    path = f"/projects/{personas.project.pk}/invitations"
    with capture(execute=True):
        made = client.call("POST", path, {"email": "newcomer@example.com", "role": "reviewer"})
    assert made.status_code == 201
    body = made.json()
    assert body["email"] == "newcomer@example.com" and body["role"] == "reviewer"
    assert body["invited_by"] == "owner" and LINK.fullmatch(body["link"])
    assert len(mail.outbox) == 1 and body["link"] in mail.outbox[0].body
    listed = client.get(path).json()
    assert listed["count"] == 1 and "link" not in listed["items"][0]  # the link is never listed
    resent = client.call("POST", f"{path}/{body['id']}/resend").json()
    assert resent["link"] != body["link"]
    assert Client().get(body["link"]).status_code == 410
    new_id = resent["id"]
    assert client.call("DELETE", f"{path}/{new_id}").status_code == 204
    assert Client().get(resent["link"]).status_code == 410
    assert client.get(path).json()["count"] == 0


@pytest.mark.parametrize("email", ["not-an-address", "a@b@c", ""])
def test_the_api_refuses_a_bad_address_with_400(personas: Personas, email: str) -> None:
    response = api_for(personas.owner).call(
        "POST", f"/projects/{personas.project.pk}/invitations", {"email": email}
    )
    assert response.status_code == 400 and "not an email address" in response.json()["detail"]
    assert not Invitation.objects.exists()


def test_the_api_answer_is_the_same_for_an_address_with_an_account(personas: Personas) -> None:
    make_user("dana")
    client = api_for(personas.owner)
    path = f"/projects/{personas.project.pk}/invitations"
    known = client.call("POST", path, {"email": "dana@example.com"}).json()
    unknown = client.call("POST", path, {"email": "nobody@example.com"}).json()
    keys = {"id", "email", "link", "expires_at"}
    assert {k: v for k, v in known.items() if k not in keys} == {
        k: v for k, v in unknown.items() if k not in keys
    }
