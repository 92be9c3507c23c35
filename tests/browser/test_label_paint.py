"""The labeling page paints exactly the mask the server sent: a real browser, the
real ASGI server and worker, a tiny random SAM with blob-shaped masks. The test
keeps the `masks` frames the socket received, decodes them with pycocotools, and
reads the canvas back at pixels well inside and well outside each mask."""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import expect

from inference.masks import rle_decode, rle_encode
from inference.testing import save_tiny_sam
from tests.browser.test_labeling import (
    SLOW,
    click_image,
    labeled_project,
    mask_area,
    open_label_page,
    screen_point,
)
from tests.live_server import AsgiServer
from tests.worker_process import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_script_errors")]

# RGBA of the canvas at CSS pixel (x, y) of each point (the page runs at DPR 1).
READ_PIXELS = """(points) => {
  const ctx = document.getElementById('canvas').getContext('2d');
  return points.map(([x, y]) => Array.from(
    ctx.getImageData(Math.floor(x), Math.floor(y), 1, 1).data));
}"""
# Mask.fromRLE in the page: its bytes (row sums, and the foreground indices of the
# smaller masks), its area and bounds from the runs, and the bounds a scan finds
# (what a mask edited by the brush falls back on).
DECODE_IN_PAGE = """async (rles) => {
  const { Mask } = await import('/static/js/label/mask.js');
  return rles.map((rle) => {
    const mask = Mask.fromRLE(rle);
    const b = mask.bounds();
    const ones = [];
    const rows = new Array(mask.height).fill(0);
    for (let i = 0; i < mask.data.length; i += 1) {
      if (!mask.data[i]) continue;
      rows[Math.floor(i / mask.width)] += 1;
      if (ones.length <= 50000) ones.push(i);
    }
    const area = mask.area();
    mask.known = undefined;
    const s = mask.bounds();
    return {
      width: mask.width, height: mask.height, rows, area,
      ones: ones.length > 50000 ? null : ones,
      bounds: b && [b.x0, b.y0, b.x1, b.y1],
      scanned: s && [s.area, s.x0, s.y0, s.x1, s.y1],
    };
  });
}"""


@pytest.fixture(scope="module")
def blob_sam(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny_sam(tmp_path_factory.mktemp("models") / "blob-sam", coherent=True))


def keep_masks_frames(page: Any) -> dict[int, dict[str, Any]]:
    """Every `masks` frame the page's sockets receive, by seq."""
    frames: dict[int, dict[str, Any]] = {}

    def on_socket(ws: Any) -> None:
        def on_frame(payload: Any) -> None:
            message = json.loads(payload)
            if message.get("type") == "masks":
                frames[message["seq"]] = message

        ws.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    return frames


def sample(
    mask: np.ndarray, inside: bool, avoid: tuple[float, float], n: int
) -> list[tuple[int, int]]:
    """Up to n pixels (x, y) whose 5x5 neighbourhood is all in (or all out of) the mask,
    so neither the outline nor nearest-neighbour rounding of the zoomed view can touch
    them, and away from the click's marker."""
    h, w = mask.shape
    padded = np.pad(mask, 2, constant_values=not inside)
    same = np.ones_like(mask, dtype=bool)
    for dy in range(5):
        for dx in range(5):
            same &= padded[dy : dy + h, dx : dx + w] == inside
    ys, xs = np.nonzero(same)
    far = np.hypot(xs - avoid[0], ys - avoid[1]) > 12
    picked = list(zip(xs[far].tolist(), ys[far].tolist(), strict=True))
    random.Random(0).shuffle(picked)
    return picked[:n]


def assert_painted(page: Any, mask: np.ndarray, click: tuple[float, float]) -> None:
    inside, outside = sample(mask, True, click, 25), sample(mask, False, click, 25)
    assert len(inside) >= 5 and len(outside) >= 5, "the mask is too thin or too big to check"
    # screen_point gives canvas CSS pixels: what getImageData reads at DPR 1.
    points = [screen_point(page, x + 0.5, y + 0.5) for x, y in inside + outside]
    pixels = page.evaluate(READ_PIXELS, points)
    # The image is plain grey (or the darker grey square); the candidate's fill is
    # yellow at the opacity slider's alpha, so a tinted pixel is a painted one.
    tinted = [not (r == g == b) for r, g, b, _ in pixels]
    assert tinted[: len(inside)] == [True] * len(inside), "a pixel of the mask is not painted"
    assert tinted[len(inside) :] == [False] * len(outside), "a pixel outside the mask is painted"


def test_the_painted_candidate_is_the_servers_mask(
    page: Any, server: AsgiServer, worker: Worker, blob_sam: str
) -> None:
    frames = keep_masks_frames(page)
    project, [image] = labeled_project(blob_sam, worker)
    app = open_label_page(page, server, project, image)
    click = (150.0, 110.0)
    click_image(page, *click)
    expect(app).not_to_have_attribute("data-mask-area", "0", timeout=SLOW)
    expect(page.locator(".candidate")).to_have_count(3)
    reply = frames[max(frames)]
    masks = [rle_decode(c["rle"]) for c in reply["candidates"]]
    assert masks[0].shape == (240, 320)  # no preview downscale at this size
    assert mask_area(app) == int(masks[0].sum())
    assert app.get_attribute("data-mask-width") == "320"
    page.mouse.move(5, 5)  # no hover highlight in the way
    assert_painted(page, masks[0], click)

    # Another candidate is decoded only when picked; it must be painted just as exactly.
    third = next((i for i in (2, 1) if masks[i].any() and (masks[i] != masks[0]).any()), None)
    if third is not None:
        page.keyboard.press(str(third + 1))
        expect(app).to_have_attribute("data-mask-area", str(int(masks[third].sum())))
        assert_painted(page, masks[third], click)

    # The thumbnails say which candidates are empty, from the server's masks.
    labels = page.locator(".candidate span").all_inner_texts()
    assert ["empty" in label for label in labels] == [not m.any() for m in masks]

    # The page timed the click: pressed, then the reply, then the paint, in order.
    entries = page.evaluate("() => window.__anymaskPerf.entries()")
    assert [e["seq"] for e in entries] == [reply["seq"]]
    entry = entries[0]
    assert 0 < entry["down"] <= entry["sent"] <= entry["reply"] <= entry["painted"]
    assert entry["pixels"] < 320 * 240  # only the box around the mask was rasterised
    measures = page.evaluate(
        "() => performance.getEntriesByType('measure').map((m) => m.name).sort()"
    )
    assert measures == ["anymask:click-to-reply", "anymask:reply-to-painted"]


def test_the_page_decodes_rle_as_pycocotools_does(page: Any, server: AsgiServer) -> None:
    """Mask.fromRLE (the typed-array decoder and the bounds from the runs) against the
    server's decode, on masks whose runs wrap columns, touch every border, or are long."""
    rng = np.random.default_rng(3)
    cases = [
        np.zeros((7, 5), dtype=bool),
        np.ones((7, 5), dtype=bool),
        rng.random((31, 17)) < 0.5,  # noise: short runs, many of them
        np.pad(np.ones((40, 3), dtype=bool), ((0, 0), (10, 60))),  # runs spanning whole columns
        np.pad(np.ones((3, 3), dtype=bool), ((5, 92), (0, 297))),  # touches the left border only
    ]
    corner = np.zeros((300, 400), dtype=bool)
    corner[-1, -1] = corner[0, 0] = True
    wide = np.zeros((2000, 3000), dtype=bool)
    wide[100:1900, 5:2990] = True  # runs up to 1800 pixels, counts past 5 digits
    cases += [corner, wide]
    rles = [rle_encode(m) for m in cases]
    page.goto(f"{server.url}/accounts/login/")  # the app's origin, for its modules
    decoded = page.evaluate(DECODE_IN_PAGE, rles)
    for mask, got in zip(cases, decoded, strict=True):
        h, w = mask.shape
        assert (got["height"], got["width"]) == (h, w)
        assert got["area"] == int(mask.sum())
        assert got["rows"] == mask.sum(axis=1).tolist()
        if got["ones"] is not None:
            assert got["ones"] == np.flatnonzero(mask.reshape(-1)).tolist()  # row-major
        if mask.any():
            ys, xs = np.nonzero(mask)
            box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
            assert got["bounds"] == box
            assert got["scanned"] == [int(mask.sum()), *box]  # the scan after an edit agrees
        else:
            assert got["bounds"] is None and got["scanned"] is None
