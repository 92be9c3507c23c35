"""mask_outline / rings_to_mask: a mask as editable rings, holes as rings of their own."""

from __future__ import annotations

import numpy as np
import pytest

from inference.outlines import (
    DEFAULT_TOLERANCE,
    MAX_BOUNDARY_EDGES,
    MAX_TOLERANCE,
    OutlineTooComplex,
    boundary_edges,
    mask_outline,
    rings_to_mask,
)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def disc(height: int, width: int, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:height, :width]
    return np.asarray((xx - cx) ** 2 + (yy - cy) ** 2 < r**2)


def ring_with_island() -> np.ndarray:
    """A disc with a hole, an island inside the hole, and a separate rectangle."""
    mask = disc(240, 320, 160, 120, 90) & ~disc(240, 320, 150, 110, 30)
    mask[102:118, 142:158] = True  # the island, inside the hole
    mask[10:30, 10:60] = True
    return mask


def test_an_outline_with_a_hole_round_trips_within_iou_0_98() -> None:
    mask = ring_with_island()
    outline = mask_outline(mask)
    assert outline.tolerance == DEFAULT_TOLERANCE
    # Outer disc, its hole, the island and the rectangle: four separate rings.
    assert len(outline.rings) == 4
    back = rings_to_mask(outline.rings, 240, 320)
    assert iou(back, mask) >= 0.98
    # The hole stays a hole and the island an island under the even-odd fill.
    assert not back[120, 125] and back[110, 150] and back[20, 30]
    # Simplified: far fewer handles than the traced staircase has corners.
    assert outline.vertices < 120


def test_without_simplification_to_speak_of_it_is_nearly_exact() -> None:
    mask = ring_with_island()
    back = rings_to_mask(mask_outline(mask, 0.1).rings, 240, 320)
    assert iou(back, mask) > 0.995


def test_the_even_odd_fill_samples_pixel_centres() -> None:
    square = np.array([[2.0, 1.0], [6.0, 1.0], [6.0, 4.0], [2.0, 4.0]])
    filled = rings_to_mask([square], 6, 8)
    expected = np.zeros((6, 8), bool)
    expected[1:4, 2:6] = True
    assert np.array_equal(filled, expected)
    # A ring inside the first one cuts it out; a ring outside the image draws nothing.
    hole = np.array([[3.0, 2.0], [5.0, 2.0], [5.0, 3.0], [3.0, 3.0]])
    cut = rings_to_mask([square, hole], 6, 8)
    assert cut.sum() == 12 - 2 and not cut[2, 3] and not cut[2, 4]
    assert not rings_to_mask([square + 100], 6, 8).any()


def test_the_edge_count_is_the_traced_perimeter() -> None:
    square = np.zeros((10, 10), bool)
    square[2:5, 3:7] = True
    assert boundary_edges(square) == 2 * (3 + 4)
    assert boundary_edges(ring_with_island()) > 2 * np.pi * (90 + 30)


def test_an_empty_mask_has_no_rings() -> None:
    assert mask_outline(np.zeros((5, 5), bool)).rings == []


def test_a_ragged_outline_is_simplified_more_until_it_fits() -> None:
    yy, xx = np.mgrid[:400, :400]
    angle = np.arctan2(yy - 200, xx - 200)
    teeth = np.hypot(xx - 200, yy - 200) < 150 + 3 * np.sign(np.sin(angle * 80))
    assert mask_outline(teeth, 1.0).vertices > 300  # four corners a tooth, at least
    loose = mask_outline(teeth, 1.0, max_vertices=200)
    assert loose.vertices <= 200 and loose.tolerance > 1.0
    assert iou(rings_to_mask(loose.rings, 400, 400), teeth) > 0.95


def test_it_refuses_outlines_nobody_could_edit() -> None:
    speckle = np.random.default_rng(0).random((120, 160)) < 0.5
    with pytest.raises(OutlineTooComplex, match="separate outlines"):
        mask_outline(speckle)
    # Refused by a count, before a trace that would take minutes.
    noise = np.random.default_rng(1).random((2000, 2000)) < 0.5
    assert boundary_edges(noise) > MAX_BOUNDARY_EDGES
    with pytest.raises(OutlineTooComplex, match="pixel edges long"):
        mask_outline(noise)
    yy, xx = np.mgrid[:400, :400]
    big = np.hypot(xx - 200, yy - 200) < 190
    with pytest.raises(OutlineTooComplex, match="at most 3 can be edited"):
        mask_outline(big, 1.0, max_vertices=3)


@pytest.mark.parametrize("tolerance", [0.0, -1.0, float("nan"), MAX_TOLERANCE * 2])
def test_it_rejects_a_tolerance_out_of_bounds(tolerance: float) -> None:
    with pytest.raises(ValueError, match="tolerance"):
        mask_outline(np.ones((4, 4), bool), tolerance)
