"""A person makes an API token in the browser, reads the API docs, and uses the token."""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from labeling.services.projects import do_create_project
from tests.browser.test_upload_flow import log_in
from tests.conftest import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_script_errors")]


def test_a_token_made_on_the_page_opens_the_api(page: Any, live_server: Any) -> None:
    owner = make_user("ada")
    do_create_project(owner, name="Streets")
    log_in(page, live_server.url, "ada")
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("nightly export")
    page.get_by_label("Expires after").select_option(label="1 year")
    page.get_by_role("button", name="Make token").click()
    token = page.locator("#new-token").inner_text()
    row = page.locator('[data-token="nightly export"]')
    expect(row).to_contain_text("never")  # not used yet
    a_year = (timezone.now() + timedelta(days=365)).date().isoformat()
    expires = row.locator(".expires time")
    expect(expires).to_have_text("in 1 year")  # in words; the exact time on hover
    assert (expires.get_attribute("datetime") or "").startswith(a_year)
    assert expires.get_attribute("title")

    request = urllib.request.Request(
        f"{live_server.url}/api/v1/projects", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        listed = json.loads(response.read())
    assert [p["name"] for p in listed["items"]] == ["Streets"]

    # The interactive docs render under the site's Content-Security-Policy.
    page.get_by_role("link", name="JSON API").click()
    expect(page.get_by_text("/api/v1/projects/{project_id}/annotations").first).to_be_visible()

    page.goto(f"{live_server.url}/account/tokens/")
    expect(page.locator("#new-token")).to_have_count(0)  # shown once, never again
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Token revoked")).to_be_visible()
