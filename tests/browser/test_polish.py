"""Small things people notice: ticks beside their labels, times in words, "1 image",
a favicon, and the labeling sidebar's buttons all alike."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from labeling.services.projects import do_create_project
from labeling.services.uploads import do_add_image
from labeling.tasks import run_export
from tests.browser.test_upload_flow import log_in
from tests.conftest import drain_queue, make_user
from tests.test_embedding_worker import picture

pytestmark = pytest.mark.django_db(transaction=True)

ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def text_box_after(page: Any, input_selector: str) -> dict[str, float]:
    """The bounding box of the label text that follows an input (not the whole label)."""
    return page.evaluate(
        """selector => {
            const input = document.querySelector(selector);
            const range = document.createRange();
            range.selectNodeContents(input.parentElement);
            range.setStartAfter(input);
            const rect = range.getBoundingClientRect();
            return {x: rect.x, y: rect.y, width: rect.width, height: rect.height};
        }""",
        input_selector,
    )


def test_the_exports_page_reads_like_a_person_wrote_it(
    page: Any, live_server: Any, settings: Any, no_script_errors: None
) -> None:
    drain_queue(settings.CELERY_QUEUE_DEFAULT)
    owner = make_user("cy")
    project = do_create_project(owner, name="Polish")
    do_add_image(project, owner, picture(5), "one.png")
    log_in(page, live_server.url, "cy")
    page.goto(f"{live_server.url}/projects/{project.pk}/exports/")

    # Every tick and radio sits just left of its own text, on the same line.
    for selector in (
        'input[name="include_empty"]',
        'input[name="with_images"]',
        'input[name="statuses"][value="approved"]',
        'input[name="segmentation"]',
        'input[name="create_categories"]',
    ):
        tick = page.locator(selector).first.bounding_box()
        text = text_box_after(page, selector)
        assert tick["width"] < 30, selector  # its own size, not the row's width
        gap = text["x"] - (tick["x"] + tick["width"])
        assert 0 <= gap <= 16, (selector, gap)
        tick_middle = tick["y"] + tick["height"] / 2
        assert text["y"] <= tick_middle <= text["y"] + text["height"], selector

    page.get_by_label("Include images without masks").check()
    page.get_by_role("button", name="Start export").click()
    row = page.locator("#exports tbody tr").first
    expect(row.locator(".state")).to_have_text("queued")
    [(task, args)] = drain_queue(settings.CELERY_QUEUE_DEFAULT)
    assert task == "labeling.tasks.run_export" and run_export(*args) == "done"
    # The page's poll fills the row in: one image, in the singular.
    expect(row.locator(".contents")).to_have_text("1 image, 0 masks")
    started = row.locator("time")
    expect(started).to_have_text(re.compile(r"^(just now|\d+ min ago)$"))
    assert started.get_attribute("title")  # the full local time, on hover
    assert ISO_TIME.search(started.get_attribute("datetime") or "")  # for machines
    assert not ISO_TIME.search(page.locator("main").inner_text())


def test_favicon_is_served(page: Any, live_server: Any) -> None:
    response = page.goto(f"{live_server.url}/favicon.ico")
    assert response.status == 200
    assert response.headers["content-type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert response.body()[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_propose_masks_matches_the_sidebar(
    page: Any, live_server: Any, no_script_errors: None
) -> None:
    owner = make_user("di")
    project = do_create_project(owner, name="Sidebar")
    image = do_add_image(project, owner, picture(6), "a.png")
    log_in(page, live_server.url, "di")
    page.goto(f"{live_server.url}/projects/{project.pk}/images/{image.pk}/label/")
    propose = page.get_by_role("button", name="Propose masks")
    neighbour = page.locator(".image-nav .button").first
    style = "el => { const s = getComputedStyle(el); return [s.backgroundColor, s.color]; }"
    assert propose.evaluate(style) == neighbour.evaluate(style)
    assert propose.evaluate(style)[0] != "rgb(255, 255, 255)"
