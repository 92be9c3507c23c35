"""The polygon tool and "Edit outline", in a real Chromium against the real server and
worker: a drawn polygon becomes the mask (its area is the polygon's), add and cut
change the mask being made, and dragging a vertex of a saved mask's outline stores a
new version with its hole kept."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from inference.masks import rle_decode, rle_encode
from inference.outlines import mask_outline, rings_to_mask
from labeling.models import Annotation
from labeling.services.annotations import do_create_annotation, do_update_annotation
from tests.browser.test_labeling import (
    SHOTS,
    labeled_project,
    mask_area,
    open_label_page,
    screen_point,
)
from tests.conftest import off_loop
from tests.live_server import AsgiServer
from tests.worker_process import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_script_errors")]

WIDTH, HEIGHT = 320, 240  # labeled_project's picture


def at(page: Any, x: float, y: float) -> tuple[float, float]:
    box = page.locator("#canvas").bounding_box()
    sx, sy = screen_point(page, x, y)
    return box["x"] + sx, box["y"] + sy


def click_vertices(page: Any, points: Sequence[tuple[float, float]]) -> None:
    for x, y in points:
        page.mouse.click(*at(page, x, y))
        page.wait_for_timeout(450)  # slower than a double-click: every click a vertex


def rect(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def shoelace(points: Sequence[tuple[float, float]]) -> float:
    xs, ys = np.array(points).T
    return float(abs(np.dot(xs, np.roll(ys, -1)) - np.dot(np.roll(xs, -1), ys)) / 2)


def test_a_drawn_polygon_becomes_the_mask_and_accept_saves_its_area(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, [image] = labeled_project(tiny_sam, worker)
    app = open_label_page(page, server, project, image)
    page.keyboard.press("g")
    expect(page.locator('.tool[data-tool="polygon"]')).to_have_attribute("aria-pressed", "true")
    expect(app).to_have_attribute("data-polygon-mode", "new")
    pentagon = [(60, 40), (200, 50), (230, 150), (120, 200), (50, 130)]
    click_vertices(page, pentagon)
    expect(app).to_have_attribute("data-polygon-vertices", "5")
    assert mask_area(app) == 0  # nothing is a mask until the polygon is closed
    page.screenshot(path=str(SHOTS / "polygon-drawing.png"))

    page.keyboard.press("Escape")  # Esc cancels the polygon, not anything else
    expect(app).to_have_attribute("data-polygon-vertices", "0")
    click_vertices(page, [*pentagon, (40, 220)])
    page.keyboard.press("Backspace")  # the stray last vertex goes
    expect(app).to_have_attribute("data-polygon-vertices", "5")
    page.mouse.click(*at(page, *pentagon[0]))  # the first vertex closes it
    expect(app).to_have_attribute("data-polygon-vertices", "0")
    area = mask_area(app)
    assert abs(area - shoelace(pentagon)) < 0.02 * shoelace(pentagon)

    page.keyboard.press("Alt+1")
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_have_text(re.compile(r"Saved mask #\d+\."))
    saved = Annotation.objects.get(image=image)
    assert saved.area == area and saved.source == "manual"
    assert saved.category is not None and saved.category.name == "car"

    # The help sheet lists the tool and its keys.
    page.keyboard.press("?")
    help_body = page.locator("#help-body")
    expect(help_body).to_contain_text("Polygon: click vertices")
    expect(help_body).to_contain_text("Edit outline of the selected saved mask")


def test_add_and_cut_change_the_mask_being_made(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, [image] = labeled_project(tiny_sam, worker)
    app = open_label_page(page, server, project, image)
    page.keyboard.press("g")
    click_vertices(page, rect(40, 40, 140, 120))
    page.keyboard.press("Enter")  # Enter closes the polygon (it does not accept yet)
    first = mask_area(app)
    assert abs(first - 100 * 80) < 300
    assert Annotation.objects.count() == 0

    page.click('[data-polygon-mode="add"]')
    expect(app).to_have_attribute("data-polygon-mode", "add")
    click_vertices(page, rect(100, 80, 200, 160))
    page.mouse.click(*at(page, 100, 80))
    union = mask_area(app)
    assert abs(union - (first + 100 * 80 - 40 * 40)) < 500

    page.keyboard.press("m")  # add -> cut
    expect(app).to_have_attribute("data-polygon-mode", "cut")
    click_vertices(page, rect(60, 60, 100, 100)[:3])
    page.mouse.dblclick(*at(page, 60, 100))  # a double-click adds the last vertex and closes
    cut = mask_area(app)
    assert abs(cut - (union - 40 * 40)) < 300

    # Shift on the closing click adds, whatever the mode says.
    click_vertices(page, rect(220, 180, 260, 220))
    page.keyboard.down("Shift")
    page.mouse.click(*at(page, 220, 180))
    page.keyboard.up("Shift")
    added = mask_area(app)
    assert abs(added - (cut + 40 * 40)) < 300

    page.keyboard.press("Control+z")  # each polygon is one undo step
    expect(app).to_have_attribute("data-mask-area", str(cut))
    page.keyboard.press("Control+z")
    expect(app).to_have_attribute("data-mask-area", str(union))

    page.keyboard.press("Alt+1")
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_have_text(re.compile(r"Saved mask #\d+\."))
    assert Annotation.objects.get(image=image).area == union


def holed_square() -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[40:160, 60:200] = True
    mask[80:120, 100:160] = False
    return mask


def test_editing_a_saved_outline_stores_a_new_version_with_the_hole_kept(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, [image] = labeled_project(tiny_sam, worker)
    owner = User.objects.get(username="fay")
    mask = holed_square()
    row = off_loop(do_create_annotation, image, owner, rle=rle_encode(mask), source="sam")
    app = open_label_page(page, server, project, image)
    page.click(f'[data-annotation-id="{row.pk}"] .ann-name')
    expect(app).to_have_attribute("data-selected", str(row.pk))
    page.keyboard.press("u")
    expect(app).to_have_attribute("data-outline-editing", "true")
    expect(app).to_have_attribute("data-outline-rings", "2")  # the square and its hole
    expect(page.locator("#outline-panel")).to_be_visible()

    outer, hole = mask_outline(mask).rings
    expect(app).to_have_attribute("data-outline-vertices", str(len(outer) + len(hole)))
    count = len(outer) + len(hole)
    # A click on an edge adds a vertex there; a right click on it removes it again.
    top_left = min(outer, key=lambda p: p[0] + p[1])
    corner = max(outer, key=lambda p: p[0] - p[1])  # top right
    middle = (top_left + corner) / 2
    page.mouse.click(*at(page, *middle))
    expect(app).to_have_attribute("data-outline-vertices", str(count + 1))
    page.mouse.click(*at(page, *middle), button="right")
    expect(app).to_have_attribute("data-outline-vertices", str(count))
    page.keyboard.press("Control+z")  # undoes the removal, not anything on the page
    expect(app).to_have_attribute("data-outline-vertices", str(count + 1))
    page.keyboard.press("Control+z")
    expect(app).to_have_attribute("data-outline-vertices", str(count))

    # Drag the outline's top-right vertex 20 px to the right, as the server traced it.
    page.mouse.move(*at(page, corner[0], corner[1]))
    page.mouse.down()
    page.mouse.move(*at(page, corner[0] + 20, corner[1]), steps=5)
    page.mouse.up()
    page.screenshot(path=str(SHOTS / "outline-edit.png"))
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_have_text(f"Saved the edit of mask #{row.pk}.")
    expect(app).to_have_attribute("data-outline-editing", "false")

    row.refresh_from_db()
    assert row.version == 2
    stored = rle_decode(row.rle)
    assert not stored[100, 130]  # the hole is still a hole
    moved = outer.copy()
    moved[(moved == corner).all(axis=1)] = [corner[0] + 20, corner[1]]
    expected = rings_to_mask([moved, hole], HEIGHT, WIDTH)
    assert (stored & expected).sum() / (stored | expected).sum() > 0.99
    assert stored.sum() > mask.sum() + 1000  # a wedge of about 20 x 120 / 2 px more


def test_a_stale_outline_gets_the_usual_conflict(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, [image] = labeled_project(tiny_sam, worker)
    owner = User.objects.get(username="fay")
    row = off_loop(do_create_annotation, image, owner, rle=rle_encode(holed_square()), source="sam")
    app = open_label_page(page, server, project, image)
    page.click(f'[data-annotation-id="{row.pk}"] .ann-name')
    page.click("#edit-outline")
    expect(app).to_have_attribute("data-outline-editing", "true")
    # Someone else saves a new version while the outline is open.
    off_loop(
        do_update_annotation, image, row.pk, owner, expected_version=1, category_id=None,
        rle=rle_encode(np.pad(np.ones((20, 20), bool), ((0, HEIGHT - 20), (0, WIDTH - 20)))),
    )  # fmt: skip
    outer = mask_outline(holed_square()).rings[0]
    corner = outer[0]
    page.mouse.move(*at(page, corner[0], corner[1]))
    page.mouse.down()
    page.mouse.move(*at(page, corner[0] - 10, corner[1] - 10), steps=3)
    page.mouse.up()
    page.click("#outline-save")
    expect(page.locator("#message")).to_have_text(re.compile(r"was changed by"))
    row.refresh_from_db()
    assert row.version == 2 and row.area == 400  # theirs stands; nothing overwritten


FILL_IN_PAGE = """async ({rings, width, height}) => {
  const { fillRings } = await import('/static/js/label/rasterise.js');
  return Array.from(fillRings(rings, width, height).data);
}"""


def test_the_page_fills_rings_exactly_as_the_server_does(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, [image] = labeled_project(tiny_sam, worker)
    open_label_page(page, server, project, image)
    rng = np.random.default_rng(7)
    cases = [
        mask_outline(holed_square()).rings,  # an outline and its hole, on half pixels
        [rng.uniform(-40, 360, (12, 2))],  # self-crossing, partly off the image
        [rng.uniform(0, 320, (5, 2)).round(1), rng.uniform(0, 240, (7, 2)).round(1)],
        [np.array([[10.0, 10.5], [50.0, 10.5], [50.0, 60.5], [10.0, 60.5]])],  # on centres
    ]
    for rings in cases:
        drawn = page.evaluate(
            FILL_IN_PAGE,
            {"rings": [r.tolist() for r in rings], "width": WIDTH, "height": HEIGHT},
        )
        in_page = np.array(drawn, dtype=bool).reshape(HEIGHT, WIDTH)
        expected = rings_to_mask(rings, HEIGHT, WIDTH)
        assert expected.any()
        assert np.array_equal(in_page, expected)
