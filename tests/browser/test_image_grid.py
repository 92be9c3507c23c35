"""The project grid in Chromium: filter, then page through the filtered images."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from labeling.models import Image, LabelingStatus, Membership, Role
from labeling.services.projects import do_create_project
from tests.browser.test_upload_flow import log_in
from tests.conftest import image_row, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_annotator_filters_the_grid_and_pages_through_the_matches(
    page: Any, live_server: Any
) -> None:
    owner = make_user("gwen")
    annotator = make_user("hal")
    project = do_create_project(owner, name="Big")
    Membership.objects.create(project=project, user=annotator, role=Role.ANNOTATOR)
    images = [image_row(project, i) for i in range(60)]
    submitted = [image.pk for image in images if image.pk % 3]  # 40 of 60
    Image.objects.filter(pk__in=submitted).update(labeling_status=LabelingStatus.SUBMITTED)
    log_in(page, live_server.url, "hal")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    tiles = page.locator("#image-grid .tile")
    expect(tiles).to_have_count(60)

    page.select_option('#grid-filters select[name="labeling"]', "submitted")
    expect(page).to_have_url(f"{live_server.url}/projects/{project.pk}/?labeling=submitted")
    expect(tiles).to_have_count(len(submitted))
    expect(page.locator("#grid-matching")).to_have_text(f"{len(submitted)} images match")

    page.select_option('#grid-filters select[name="per"]', "30")
    expect(page).to_have_url(f"{live_server.url}/projects/{project.pk}/?labeling=submitted&per=30")
    expect(tiles).to_have_count(30)
    expect(page.locator(".pager")).to_contain_text("Page 1 of 2")
    first_page = [int(t) for t in tiles.evaluate_all("ts => ts.map(t => t.dataset.imageId)")]
    assert first_page == submitted[:30]

    page.click('.pager a[rel="next"]')
    expect(page.locator(".pager")).to_contain_text("Page 2 of 2")
    expect(tiles).to_have_count(len(submitted) - 30)
    second_page = [int(t) for t in tiles.evaluate_all("ts => ts.map(t => t.dataset.imageId)")]
    assert second_page == submitted[30:]
    # The filter survived the paging, and shows as chosen.
    expect(page.locator('#grid-filters select[name="labeling"]')).to_have_value("submitted")
    for badge in page.locator('#image-grid [data-field="labeling"]').all():
        expect(badge).to_have_text("Submitted")

    # Clearing the filters keeps the page size and goes back to the first page.
    page.click("#clear-filters")
    expect(page).to_have_url(f"{live_server.url}/projects/{project.pk}/?per=30")
    expect(page.locator("#grid-matching")).to_have_text("60 images")
    expect(tiles).to_have_count(30)
