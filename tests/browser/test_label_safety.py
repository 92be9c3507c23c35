"""Nothing lost by accident on the labeling page, in a real Chromium against the real
server and worker: leaving with an unaccepted mask asks first, submitting an image
with no masks asks first, an empty mask cannot be accepted, and a brush or eraser
stroke that changes nothing stores nothing. Messages say what happened."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from labeling.models import Annotation, Image, LabelingStatus
from tests.browser.test_labeling import (
    labeled_project,
    mask_area,
    open_label_page,
    screen_point,
)
from tests.live_server import AsgiServer
from tests.worker_process import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_script_errors")]


def stroke(page: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag the current tool from image pixel `start` to `end`."""
    box = page.locator("#canvas").bounding_box()
    a, b = screen_point(page, *start), screen_point(page, *end)
    page.mouse.move(box["x"] + a[0], box["y"] + a[1])
    page.mouse.down()
    page.mouse.move(box["x"] + b[0], box["y"] + b[1], steps=6)
    page.mouse.up()


def set_brush(page: Any, size: int) -> None:
    page.evaluate(
        """(size) => { const s = document.getElementById('brush-size');
        s.value = String(size); s.dispatchEvent(new Event('input')); }""",
        size,
    )


def paint_and_accept(page: Any, app: Any) -> Annotation:
    page.keyboard.press("d")
    stroke(page, (40, 40), (120, 60))
    assert mask_area(app) > 500
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_have_text(re.compile(r"Saved mask #\d+\."))
    return Annotation.objects.get()


def test_it_asks_before_a_reload_or_navigation_throws_away_an_unaccepted_mask(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, images = labeled_project(tiny_sam, worker, images=2)
    app = open_label_page(page, server, project, images[0])
    asked: list[str] = []

    def refuse(dialog: Any) -> None:
        asked.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", refuse)
    page.keyboard.press("d")
    stroke(page, (40, 40), (120, 60))
    painted = mask_area(app)
    assert painted > 500

    page.close(run_before_unload=True)  # a close or reload: the browser asks first
    page.wait_for_timeout(500)
    assert asked == ["beforeunload"] and not page.is_closed()
    page.keyboard.press(".")  # next image: the page asks, and staying keeps the mask
    page.wait_for_timeout(300)
    assert asked == ["beforeunload", "confirm"]
    assert page.url.endswith(f"/images/{images[0].pk}/label/")
    assert mask_area(app) == painted

    page.keyboard.press("Alt+1")
    page.keyboard.press("Enter")  # accepted: nothing left to lose, so nothing asks
    expect(page.locator(".ann:not(.saving)")).to_have_count(1)
    page.keyboard.press(".")
    expect(page).to_have_url(re.compile(rf"/images/{images[1].pk}/label/$"))
    assert asked == ["beforeunload", "confirm"]


def test_it_asks_before_submitting_an_image_with_no_masks(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, images = labeled_project(tiny_sam, worker, images=2)
    open_label_page(page, server, project, images[0])
    questions: list[str] = []

    def answer(yes: bool) -> Any:
        def handle(dialog: Any) -> None:
            questions.append(dialog.message)
            dialog.accept() if yes else dialog.dismiss()

        return handle

    page.once("dialog", answer(False))
    page.keyboard.press("Shift+Enter")
    page.wait_for_timeout(300)
    assert len(questions) == 1 and "no masks" in questions[0]
    assert page.url.endswith(f"/images/{images[0].pk}/label/")
    assert Image.objects.get(pk=images[0].pk).labeling_status == LabelingStatus.UNLABELED

    page.once("dialog", answer(True))
    page.get_by_role("button", name=re.compile("Submit image")).click()  # the button asks too
    expect(page).to_have_url(re.compile(rf"/images/{images[1].pk}/label/$"))
    assert len(questions) == 2
    assert Image.objects.get(pk=images[0].pk).labeling_status == LabelingStatus.SUBMITTED


def test_an_empty_mask_says_so_and_cannot_be_accepted(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, [image] = labeled_project(tiny_sam, worker)
    app = open_label_page(page, server, project, image)
    page.keyboard.press("d")
    stroke(page, (40, 40), (120, 60))
    assert mask_area(app) > 500
    expect(page.locator("#empty-note")).to_be_hidden()
    expect(page.locator("#accept")).to_be_enabled()

    page.keyboard.press("e")
    set_brush(page, 200)
    stroke(page, (80, 50), (90, 50))  # one wide eraser stroke takes it all
    expect(app).to_have_attribute("data-mask-area", "0")
    expect(page.locator("#empty-note")).to_be_visible()
    expect(page.locator("#empty-note")).to_contain_text("empty (0 pixels)")
    expect(page.locator("#accept")).to_be_disabled()
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_contain_text("empty (0 pixels) and cannot be accepted")
    page.wait_for_timeout(300)
    assert Annotation.objects.count() == 0

    page.keyboard.press("Control+z")  # undo brings the pixels back, and Accept with them
    expect(page.locator("#empty-note")).to_be_hidden()
    expect(page.locator("#accept")).to_be_enabled()


def test_a_stroke_that_changes_nothing_saves_nothing(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, [image] = labeled_project(tiny_sam, worker)
    app = open_label_page(page, server, project, image)
    saved = paint_and_accept(page, app)
    row = page.locator(f'[data-annotation-id="{saved.pk}"]')

    row.locator(".ann-name").click()  # select it; the eraser then edits it
    page.keyboard.press("e")
    stroke(page, (250, 200), (290, 220))  # far from the mask
    expect(page.locator("#message")).to_have_text(
        "The eraser changed nothing: no pixels of the mask were under it."
    )
    expect(app).to_have_attribute("data-mask-area", "0")  # no edit left open
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_have_text(re.compile("Nothing to accept yet"))
    page.wait_for_timeout(300)
    saved.refresh_from_db()
    assert saved.version == 1

    stroke(page, (60, 40), (100, 60))  # over the mask: a real edit, a new version
    assert 0 < mask_area(app) < saved.area
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_have_text(f"Saved the edit of mask #{saved.pk}.")
    saved.refresh_from_db()
    assert saved.version == 2

    # A reviewer's verdict says which verdict it was.
    row.locator(".review-approved").click()
    expect(page.locator("#message")).to_have_text(f"Approved mask #{saved.pk}.")
    row.locator("select").select_option(label="tree")
    expect(page.locator("#message")).to_have_text(f"Mask #{saved.pk} is now tree.")


def test_it_asks_before_a_reload_throws_away_a_half_drawn_polygon(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    from tests.browser.test_label_polygon import click_vertices

    project, images = labeled_project(tiny_sam, worker, images=1)
    app = open_label_page(page, server, project, images[0])
    asked: list[str] = []

    def refuse(dialog: Any) -> None:
        asked.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", refuse)
    page.keyboard.press("g")
    click_vertices(page, [(40, 40), (200, 50), (180, 160)])  # three vertices, not closed
    expect(app).to_have_attribute("data-polygon-vertices", "3")
    page.close(run_before_unload=True)
    page.wait_for_timeout(500)
    assert asked == ["beforeunload"] and not page.is_closed()
    expect(app).to_have_attribute("data-polygon-vertices", "3")  # staying keeps it
    page.keyboard.press("Escape")  # cancelled on purpose: nothing left to lose
    expect(app).to_have_attribute("data-polygon-vertices", "0")
    with page.expect_event("close", timeout=5000):
        page.close(run_before_unload=True)  # closes without asking
    assert asked == ["beforeunload"]
