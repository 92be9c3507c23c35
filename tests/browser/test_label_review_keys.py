"""A reviewer's keys on the labeling page, in a real Chromium against the real
server: J / K walk the masks, A approves, R rejects with a comment, S shows only
the selected mask, and category names stay readable in the mask list."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from labeling.models import Annotation, Category
from tests.browser.test_label_selection import paint_mask
from tests.browser.test_labeling import labeled_project, open_label_page
from tests.live_server import AsgiServer
from tests.worker_process import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_script_errors")]


def test_a_reviewer_walks_approves_and_rejects_masks_from_the_keyboard(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, images = labeled_project(tiny_sam, worker, images=2)
    app = open_label_page(page, server, project, images[0])
    paint_mask(page, (40, 50), (110, 50))
    paint_mask(page, (180, 150), (260, 150))
    expect(page.locator(".ann:not(.saving)")).to_have_count(2)
    first, second = Annotation.objects.order_by("pk")

    page.keyboard.press("j")
    expect(app).to_have_attribute("data-selected", str(first.pk))
    page.keyboard.press("j")
    expect(app).to_have_attribute("data-selected", str(second.pk))
    page.keyboard.press("k")
    expect(app).to_have_attribute("data-selected", str(first.pk))

    page.keyboard.press("s")  # only the selected mask is drawn
    expect(page.locator("#solo-selected")).to_be_checked()
    expect(app).to_have_attribute("data-drawn-masks", "1")
    page.keyboard.press("s")
    expect(app).to_have_attribute("data-drawn-masks", "2")

    page.keyboard.press("a")
    expect(page.locator("#message")).to_have_text(f"Approved mask #{first.pk}.")
    page.keyboard.press("j")
    page.once("dialog", lambda dialog: dialog.accept("Too loose"))
    page.keyboard.press("r")
    expect(page.locator("#message")).to_have_text(f"Rejected mask #{second.pk}.")
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status, second.review_comment) == (
        "approved",
        "rejected",
        "Too loose",
    )

    page.keyboard.press("?")
    for text in (
        "Approve the selected mask",
        "Reject the selected mask",
        "next mask",
        "Next image",
    ):
        expect(page.locator("#help-body")).to_contain_text(text)
    page.keyboard.press("Escape")
    page.keyboard.press(".")
    expect(page).to_have_url(re.compile(rf"/images/{images[1].pk}/label/$"))


@pytest.mark.parametrize("width", [1440, 1920])
def test_category_names_are_readable_in_the_mask_list(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    project, [image] = labeled_project(tiny_sam, worker)
    Category.objects.create(project=project, name="traffic light", color="#3b82f6", order=3)
    open_label_page(page, server, project, image)
    paint_mask(page, (40, 50), (110, 50))
    expect(page.locator(".ann:not(.saving)")).to_have_count(1)
    select = page.locator(".ann select")
    select.select_option(label="traffic light")
    expect(page.locator("#message")).to_contain_text("is now traffic light")
    # The chosen name fits in the box, beside the arrow (about 24 px).
    room = select.evaluate(
        """(s) => { const c = document.createElement('canvas').getContext('2d');
        c.font = getComputedStyle(s).font;
        return s.clientWidth - 24 - c.measureText(s.selectedOptions[0].text).width; }"""
    )
    assert room >= 0, f"'traffic light' is cut by {-room:.0f} px at {width} px wide"
