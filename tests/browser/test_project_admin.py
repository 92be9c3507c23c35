"""A project admin manages categories and members in a real browser."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from labeling.models import Category, Membership
from labeling.services.projects import do_create_project
from tests.browser.test_upload_flow import log_in
from tests.conftest import make_user, zip_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_adds_categories_and_members(page: Any, live_server: Any) -> None:
    owner = make_user("cleo")
    make_user("dan")
    project = do_create_project(owner, name="Fields")
    log_in(page, live_server.url, "cleo")
    page.goto(f"{live_server.url}/projects/{project.pk}/categories/")

    page.get_by_label("Name").fill("tractor")
    page.locator("#id_color").fill("#ff8800")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_text("Added category 'tractor'.")).to_be_visible()
    swatch = page.get_by_label("Colour of tractor")
    expect(swatch).to_have_value("#ff8800")
    assert swatch.bounding_box()["width"] >= 30  # a visible swatch, not a sliver

    page.get_by_role("link", name="Members").click()
    page.get_by_label("Username or email").fill("dan")
    page.locator("#id_role").select_option("reviewer")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_text("Added dan as reviewer.")).to_be_visible()
    expect(page.locator('tr[data-username="dan"]')).to_be_visible()

    # Removing asks first; dismissing keeps the member.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.locator('tr[data-username="dan"]').get_by_role("button", name="Remove").click()
    expect(page.locator('tr[data-username="dan"]')).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('tr[data-username="dan"]').get_by_role("button", name="Remove").click()
    expect(page.get_by_text("Removed from the project.")).to_be_visible()
    assert not Membership.objects.filter(project=project, user__username="dan").exists()
    assert Category.objects.get(project=project).color == "#ff8800"


def test_an_empty_zip_finishes_instead_of_hanging(
    page: Any, live_server: Any, tmp_path: Any
) -> None:
    owner = make_user("eve")
    project = do_create_project(owner, name="Empty")
    log_in(page, live_server.url, "eve")
    page.goto(f"{live_server.url}/projects/{project.pk}/upload/")
    page.wait_for_selector("#dropzone[data-ready]")
    archive = tmp_path / "nothing.zip"
    archive.write_bytes(zip_bytes({}))
    page.set_input_files("#file-input", [str(archive)])
    expect(page.locator('li[data-name="nothing.zip"] .state')).to_have_text("ignored")
    expect(page.locator("#upload-summary")).to_have_text("Done. 0 accepted, 0 refused, 1 ignored.")
