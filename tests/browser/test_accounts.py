"""Accounts in a real browser: an invitation from the members page to a new
account in the project, an existing account joining, and changing and resetting a
password."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from playwright.sync_api import expect

from labeling.models import Membership, Role
from labeling.services.projects import do_create_project
from tests.browser.test_upload_flow import log_in
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "violet-kayak-harbour-1987"


@pytest.fixture(autouse=True)
def _no_reset_budget(settings: Any) -> None:
    # The reset budget lives in the cache, shared by every run in CI (Redis): these
    # tests reuse addresses, so only the test of the budget keeps one.
    settings.ANYMASK_PASSWORD_RESETS_PER_HOUR = 1_000_000


def invite(page: Any, base: str, project_id: int, email: str, role: str) -> str:
    page.goto(f"{base}/projects/{project_id}/members/")
    page.get_by_label("Username or email").fill(email)
    page.locator("#id_role").select_option(role)
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_text(f"{email} as {role}: copy its link below.")).to_be_visible()
    link = page.locator("#invitation-link").inner_text().strip()
    expect(page.locator(f'tr[data-invitation="{email}"]')).to_be_visible()
    return link


def test_an_invited_person_sets_a_password_and_lands_in_the_project(
    page: Any, browser: Any, live_server: Any
) -> None:
    owner = make_user("cleo")
    project = do_create_project(owner, name="Fields")
    log_in(page, live_server.url, "cleo")
    link = invite(page, live_server.url, project.pk, "newcomer@example.com", "reviewer")
    assert link.startswith(f"{live_server.url}/invitations/")
    # The same link went out by email.
    assert [m.to for m in mail.outbox] == [["newcomer@example.com"]] and link in mail.outbox[0].body
    # Shown once: a reload no longer has it.
    page.reload()
    expect(page.locator("#invitation-link")).to_have_count(0)

    invitee = browser.new_context().new_page()
    invitee.goto(link)
    expect(invitee.get_by_role("heading", name="Join Fields")).to_be_visible()
    invitee.get_by_label("Username", exact=True).fill("newcomer")
    invitee.get_by_label("Display name (optional)").fill("New Comer")
    invitee.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    invitee.get_by_label("Password confirmation").fill(NEW_PASSWORD)
    invitee.get_by_role("button", name="Make my account and join").click()
    expect(invitee.get_by_text("Welcome, newcomer: you joined Fields.")).to_be_visible()
    expect(invitee.locator(".who")).to_contain_text("newcomer · reviewer")
    user = User.objects.get(username="newcomer")
    assert Membership.objects.get(project=project, user=user).role == Role.REVIEWER

    # The admin sees the new member by name, not by address.
    page.reload()
    row = page.locator('tr[data-username="newcomer"]')
    expect(row).to_contain_text("New Comer")
    expect(row).not_to_contain_text("newcomer@example.com")
    expect(page.locator('tr[data-invitation="newcomer@example.com"]')).to_have_count(0)

    # The link is spent.
    invitee.goto(link)
    expect(invitee.get_by_role("alert")).to_contain_text("already been used")
    invitee.context.close()


def test_an_existing_account_logs_in_from_the_link_and_joins(
    page: Any, browser: Any, live_server: Any
) -> None:
    owner = make_user("cleo")
    make_user("dana")
    project = do_create_project(owner, name="Fields")
    log_in(page, live_server.url, "cleo")
    link = invite(page, live_server.url, project.pk, "dana@example.com", "annotator")

    dana = browser.new_context().new_page()
    dana.goto(link)
    dana.get_by_role("link", name="Log in to join").click()
    dana.get_by_label("Username").fill("dana")
    dana.get_by_label("Password").fill(PASSWORD)
    dana.get_by_role("button", name="Log in").click()
    dana.get_by_role("button", name="Join Fields").click()
    expect(dana.get_by_text("You joined Fields as annotator.")).to_be_visible()
    assert Membership.objects.filter(project=project, user__username="dana").exists()
    dana.context.close()


def test_a_revoked_invitation_link_says_so(page: Any, browser: Any, live_server: Any) -> None:
    owner = make_user("cleo")
    project = do_create_project(owner, name="Fields")
    log_in(page, live_server.url, "cleo")
    link = invite(page, live_server.url, project.pk, "late@example.com", "annotator")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('tr[data-invitation="late@example.com"]').get_by_role(
        "button", name="Revoke"
    ).click()
    expect(page.get_by_text("Revoked the invitation to late@example.com")).to_be_visible()
    other = browser.new_context().new_page()
    other.goto(link)
    expect(other.get_by_role("alert")).to_contain_text("withdrawn")
    other.context.close()


def test_a_user_changes_their_password_from_the_menu(page: Any, live_server: Any) -> None:
    make_user("cleo")
    log_in(page, live_server.url, "cleo")
    page.get_by_role("link", name="Change password").click()
    page.get_by_label("Old password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password was changed.")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    page.get_by_label("Username").fill("cleo")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()


def test_a_user_resets_a_forgotten_password_from_the_login_page(
    page: Any, live_server: Any
) -> None:
    make_user("cleo")
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("cleo@example.com")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    found = re.search(r"http://\S+/accounts/password/reset/\S+/", str(mail.outbox[-1].body))
    assert found is not None
    page.goto(found.group(0))
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("heading", name="Password set")).to_be_visible()
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Username").fill("cleo")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
