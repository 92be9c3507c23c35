"""mask_to_polygons / polygons_to_mask: COCO polygons that keep holes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pycocotools import mask as coco_mask

from inference.masks import (
    MAX_POLYGON_PERIMETER,
    MaskFormatError,
    mask_to_polygons,
    polygons_to_mask,
)

# pycocotools' decode (the reference renderer here) trips a numpy 2 deprecation warning.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def render(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    """How any COCO consumer using pycocotools turns our polygons into pixels."""
    if not polygons:
        return np.zeros((height, width), dtype=bool)
    rles = coco_mask.frPyObjects(polygons, height, width)
    return coco_mask.decode(coco_mask.merge(rles)).astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def disk(height: int, width: int, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:height, :width]
    return (xx - cx) ** 2 + (yy - cy) ** 2 < r * r


def ring(height, width, cx, cy, r_out, r_in):
    return disk(height, width, cx, cy, r_out) & ~disk(height, width, cx, cy, r_in)


def assert_well_formed(polygons, height, width):
    for poly in polygons:
        assert len(poly) >= 6 and len(poly) % 2 == 0
        assert all(isinstance(v, float) for v in poly)
        xy = np.asarray(poly).reshape(-1, 2)
        assert (xy >= 0).all() and (xy[:, 0] <= width).all() and (xy[:, 1] <= height).all()


# ------------------------------------------------------------------ shapes, exact


def test_disk_round_trips_exactly():
    mask = disk(200, 240, 120, 100, 70)
    polygons = mask_to_polygons(mask)
    assert len(polygons) == 1
    assert_well_formed(polygons, 200, 240)
    assert np.array_equal(render(polygons, 200, 240), mask)


def test_ring_keeps_its_hole():
    mask = ring(200, 200, 100, 100, 80, 40)
    polygons = mask_to_polygons(mask)
    assert len(polygons) == 1  # the hole is part of the polygon, not a second one
    rendered = render(polygons, 200, 200)
    assert not rendered[100, 100]
    assert not rendered[disk(200, 200, 100, 100, 39)].any()  # the whole hole is empty
    assert np.array_equal(rendered, mask)


def test_rings_within_rings_keep_every_hole():
    h = w = 300
    mask = (
        ring(h, w, 150, 150, 140, 110) | ring(h, w, 150, 150, 90, 60) | ring(h, w, 150, 150, 40, 15)
    )
    polygons = mask_to_polygons(mask)
    assert len(polygons) == 3
    rendered = render(polygons, h, w)
    for gap in (
        ring(h, w, 150, 150, 108, 92),
        ring(h, w, 150, 150, 58, 42),
        disk(h, w, 150, 150, 13),
    ):
        assert not rendered[gap].any()
    assert np.array_equal(rendered, mask)


def test_separate_parts_become_separate_polygons():
    h, w = 120, 200
    mask = disk(h, w, 30, 30, 20) | disk(h, w, 150, 60, 35) | disk(h, w, 60, 100, 10)
    mask[5:15, 100:190] = True
    polygons = mask_to_polygons(mask)
    assert len(polygons) == 4
    assert np.array_equal(render(polygons, h, w), mask)


@pytest.mark.parametrize(
    "region",
    [
        (slice(None), slice(None)),  # the whole image
        (slice(0, 10), slice(None)),  # top band
        (slice(30, None), slice(None)),  # bottom band
        (slice(None), slice(0, 1)),  # first column
        (slice(None), slice(49, None)),  # last column
        (slice(35, None), slice(40, None)),  # bottom-right corner
    ],
)
def test_masks_touching_the_image_border_round_trip(region):
    mask = np.zeros((40, 50), dtype=bool)
    mask[region] = True
    polygons = mask_to_polygons(mask)
    assert_well_formed(polygons, 40, 50)
    assert np.array_equal(render(polygons, 40, 50), mask)


def test_frame_along_the_border_keeps_its_hole():
    mask = np.ones((40, 50), dtype=bool)
    mask[5:35, 5:45] = False
    rendered = render(mask_to_polygons(mask), 40, 50)
    assert not rendered[5:35, 5:45].any()
    assert np.array_equal(rendered, mask)


def test_l_shape_is_six_corners():
    mask = np.zeros((30, 30), dtype=bool)
    mask[5:25, 5:10] = True
    mask[20:25, 5:25] = True
    polygons = mask_to_polygons(mask)
    assert len(polygons) == 1
    assert len(polygons[0]) == 12  # collinear points are dropped
    assert sorted(zip(polygons[0][::2], polygons[0][1::2], strict=True)) == sorted(
        [(5.0, 5.0), (10.0, 5.0), (10.0, 20.0), (25.0, 20.0), (25.0, 25.0), (5.0, 25.0)]
    )
    assert np.array_equal(render(polygons, 30, 30), mask)


def test_pixels_touching_at_a_corner_form_one_part():
    mask = np.zeros((6, 6), dtype=bool)
    mask[1, 1] = mask[2, 2] = mask[3, 3] = True
    polygons = mask_to_polygons(mask)
    assert len(polygons) == 1
    assert np.array_equal(render(polygons, 6, 6), mask)


def test_a_hole_touching_the_outline_at_a_corner_stays_a_hole():
    mask = np.ones((5, 5), dtype=bool)
    mask[0, 0] = False  # outside, diagonal to the hole below
    mask[1, 1] = False  # a hole: background is 4-connected
    polygons = mask_to_polygons(mask)
    assert len(polygons) == 1
    assert np.array_equal(render(polygons, 5, 5), mask)


def test_a_sponge_with_many_holes_is_one_polygon():
    mask = np.ones((200, 200), dtype=bool)
    mask[5:195:6, 5:195:6] = False
    mask[7:195:6, 8:195:6] = False
    polygons = mask_to_polygons(mask)
    assert len(polygons) == 1
    assert np.array_equal(render(polygons, 200, 200), mask)


def test_empty_mask_has_no_polygons():
    assert mask_to_polygons(np.zeros((10, 10), dtype=bool)) == []


@settings(max_examples=300, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 20), st.integers(1, 20))))
def test_any_mask_round_trips_exactly(mask):
    h, w = mask.shape
    polygons = mask_to_polygons(mask)
    assert_well_formed(polygons, h, w)
    assert np.array_equal(render(polygons, h, w), mask)
    assert np.array_equal(polygons_to_mask(polygons, h, w), mask)


# ------------------------------------------------------------------- simplification


@pytest.mark.parametrize("tolerance", [0.5, 1.0])
def test_simplified_shapes_stay_close_and_keep_holes(tolerance):
    h = w = 400
    shapes = {
        "disk": disk(h, w, 200, 200, 120),
        "ring": ring(h, w, 200, 200, 150, 70),
        "nested": ring(h, w, 200, 200, 190, 150)
        | ring(h, w, 200, 200, 120, 80)
        | disk(h, w, 200, 200, 40),
        "parts": disk(h, w, 80, 80, 60) | disk(h, w, 300, 300, 80) | disk(h, w, 300, 80, 40),
    }
    for name, mask in shapes.items():
        exact = mask_to_polygons(mask)
        simple = mask_to_polygons(mask, tolerance=tolerance)
        assert len(simple) == len(exact), name
        assert sum(map(len, simple)) < sum(map(len, exact)), name
        rendered = render(simple, h, w)
        assert iou(rendered, mask) >= 0.99, name
    # Pixels well inside the holes stay empty after simplification.
    rendered = render(mask_to_polygons(shapes["ring"], tolerance=tolerance), h, w)
    assert not rendered[disk(h, w, 200, 200, 65)].any()
    rendered = render(mask_to_polygons(shapes["nested"], tolerance=tolerance), h, w)
    assert not rendered[ring(h, w, 200, 200, 145, 125) | ring(h, w, 200, 200, 75, 45)].any()


def test_simplification_reduces_straight_shapes_to_their_corners():
    mask = np.zeros((300, 300), dtype=bool)
    mask[50:250, 50:100] = True
    mask[200:250, 50:250] = True
    polygons = mask_to_polygons(mask, tolerance=1.0)
    assert len(polygons) == 1
    assert len(polygons[0]) <= 2 * 12  # six corners, each possibly cut by half a pixel
    assert iou(render(polygons, 300, 300), mask) >= 0.99


def test_simplification_drops_rings_thinner_than_the_tolerance():
    mask = disk(100, 100, 50, 50, 30)
    mask[50, 50] = False  # a one-pixel hole
    mask[90, 90] = True  # a one-pixel speck
    polygons = mask_to_polygons(mask, tolerance=2.0)
    assert len(polygons) == 1
    rendered = render(polygons, 100, 100)
    assert rendered[50, 50] and not rendered[90, 90]


@pytest.mark.parametrize("tolerance", [-1.0, math.nan, math.inf])
def test_it_rejects_a_bad_tolerance(tolerance):
    with pytest.raises(ValueError):
        mask_to_polygons(np.ones((4, 4), dtype=bool), tolerance=tolerance)


# ----------------------------------------------------------------- polygons_to_mask


def test_polygons_to_mask_fills_pixels_whose_centres_are_inside():
    mask = polygons_to_mask([[2, 1, 6, 1, 6, 4, 2, 4]], 8, 10)
    expected = np.zeros((8, 10), dtype=bool)
    expected[1:4, 2:6] = True
    assert mask.dtype == np.bool_
    assert np.array_equal(mask, expected)


def test_polygons_to_mask_unites_polygons_and_accepts_arrays():
    a = [0.0, 0.0, 4.0, 0.0, 4.0, 4.0, 0.0, 4.0]
    b: Any = np.array([2, 2, 6, 2, 6, 6, 2, 6])  # numpy rows are accepted too
    mask = polygons_to_mask([a, b], 8, 8)
    assert mask.sum() == 16 + 16 - 4


def test_polygons_to_mask_clips_coordinates_slightly_outside():
    mask = polygons_to_mask([[-3, -3, 13, -3, 13, 13, -3, 13]], 10, 10)
    assert mask.all()


def test_polygons_to_mask_of_nothing_is_empty():
    assert not polygons_to_mask([], 5, 7).any()
    assert polygons_to_mask([], 5, 7).shape == (5, 7)


@pytest.mark.parametrize(
    "polygons",
    [
        [[0, 0, 4, 0, 4]],  # odd length
        [[0, 0, 4, 4]],  # only two points (pycocotools would read it as a box)
        [[]],
        [[0, 0, 4, 0, math.nan, 4]],
        [[0, 0, 4, 0, math.inf, 4]],
        [["0", "0", "4", "0", "4", "4"]],
        [[True, 0, 4, 0, 4, 4]],
        [[[0, 0], [4, 0], [4, 4]]],
        [[0, 0, 4, 0, 4, 10**400]],
        [[0, 0, 4, 0, 4, 1e9]],  # far outside the image
        [[0, 0, 4, 0, 4, -1e5]],
        [np.zeros((3, 2))],
        [np.array(["a"] * 6)],
        [{"x": 1}],
        "0 0 4 0 4 4",
        None,
    ],
)
def test_polygons_to_mask_rejects_malformed_polygons(polygons):
    with pytest.raises(MaskFormatError):
        polygons_to_mask(polygons, 10, 10)


def test_polygons_to_mask_rejects_outlines_too_long_to_render():
    # 6000 vertices zig-zagging across a 1000-pixel image: 6 million pixels of outline.
    xy = np.stack([np.tile([0.0, 1000.0], 3000), np.arange(6000) % 997.0], axis=1)
    perimeter = np.abs(np.diff(xy, axis=0)).max(axis=1).sum()
    assert perimeter > MAX_POLYGON_PERIMETER
    with pytest.raises(MaskFormatError):
        polygons_to_mask([xy.ravel().tolist()], 1000, 1000)


@pytest.mark.parametrize("size", [(0, 5), (5, -1), (2**20, 5), (5.0, 5), ("5", 5)])
def test_polygons_to_mask_rejects_bad_sizes(size):
    with pytest.raises(MaskFormatError):
        polygons_to_mask([[0, 0, 4, 0, 4, 4]], *size)
