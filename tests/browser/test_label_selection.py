"""Selecting saved masks on the canvas, in a real Chromium against the real server:
the select tool (V) takes the topmost mask under a click, Alt+click walks through
overlapping masks, and hovering a mask highlights it in step with the mask list."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from labeling.models import Annotation
from tests.browser.test_label_safety import stroke
from tests.browser.test_labeling import labeled_project, open_label_page, screen_point
from tests.live_server import AsgiServer
from tests.worker_process import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_script_errors")]


def paint_mask(page: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.keyboard.press("d")
    stroke(page, start, end)
    page.keyboard.press("Enter")


def at(page: Any, x: float, y: float) -> tuple[float, float]:
    box = page.locator("#canvas").bounding_box()
    sx, sy = screen_point(page, x, y)
    return box["x"] + sx, box["y"] + sy


def alt_click(page: Any, x: float, y: float) -> None:
    page.keyboard.down("Alt")
    page.mouse.click(*at(page, x, y))
    page.keyboard.up("Alt")


def test_a_click_selects_the_topmost_mask_and_alt_click_cycles_through_overlaps(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, [image] = labeled_project(tiny_sam, worker)
    app = open_label_page(page, server, project, image)
    paint_mask(page, (40, 50), (110, 50))  # under
    expect(page.locator(".ann:not(.saving)")).to_have_count(1)
    paint_mask(page, (90, 50), (160, 50))  # over, overlapping the first at x 90…110
    expect(page.locator(".ann:not(.saving)")).to_have_count(2)
    under, over = Annotation.objects.order_by("pk")
    expect(app).to_have_attribute("data-selected", "")

    page.keyboard.press("v")
    page.mouse.click(*at(page, 50, 50))  # only the first is here
    expect(app).to_have_attribute("data-selected", str(under.pk))
    expect(page.locator(f'[data-annotation-id="{under.pk}"]')).to_have_class(
        re.compile(r"\bselected\b")
    )
    page.mouse.click(*at(page, 100, 50))  # both: the topmost wins
    expect(app).to_have_attribute("data-selected", str(over.pk))
    alt_click(page, 100, 50)  # the one underneath
    expect(app).to_have_attribute("data-selected", str(under.pk))
    expect(page.locator("#message")).to_contain_text("2 of 2 here")
    alt_click(page, 100, 50)  # and round again
    expect(app).to_have_attribute("data-selected", str(over.pk))
    page.mouse.click(*at(page, 250, 200))  # nothing there: the selection goes
    expect(app).to_have_attribute("data-selected", "")

    page.keyboard.press("p")  # Alt+click selects in the other tools too, adding no point
    alt_click(page, 50, 50)
    expect(app).to_have_attribute("data-selected", str(under.pk))
    assert app.get_attribute("data-mask-area") == "0"

    page.keyboard.press("?")
    expect(page.locator("#help-body")).to_contain_text("Alt+click")
    expect(page.locator("#help-body")).to_contain_text("Select: click a saved mask")


def test_hovering_a_mask_highlights_it_on_the_canvas_and_in_the_list(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, [image] = labeled_project(tiny_sam, worker)
    app = open_label_page(page, server, project, image)
    paint_mask(page, (40, 50), (110, 50))
    paint_mask(page, (180, 150), (260, 150))
    expect(page.locator(".ann:not(.saving)")).to_have_count(2)
    first, second = Annotation.objects.order_by("pk")

    page.keyboard.press("v")
    page.mouse.move(*at(page, 220, 150), steps=3)
    expect(app).to_have_attribute("data-hovered", str(second.pk))
    expect(page.locator(f'[data-annotation-id="{second.pk}"]')).to_have_class(
        re.compile(r"\bhovered\b")
    )
    page.mouse.move(*at(page, 150, 220), steps=3)  # over no mask
    expect(app).to_have_attribute("data-hovered", "")
    expect(page.locator(".ann.hovered")).to_have_count(0)

    page.locator(f'[data-annotation-id="{first.pk}"] .ann-meta').hover()  # the list, too
    expect(app).to_have_attribute("data-hovered", str(first.pk))
    expect(page.locator(f'[data-annotation-id="{first.pk}"]')).to_have_class(
        re.compile(r"\bhovered\b")
    )
