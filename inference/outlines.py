"""Editable outlines of a mask: simplified rings, holes kept as rings of their own.

COCO export (`inference.polygons.trace_polygons`) splices each hole into its outer
ring through a zero-width bridge, because pycocotools unions polygons. An editor
wants the opposite: every outline and every hole a separate closed ring a person can
drag, filled together with the even-odd rule (a pixel is inside when a ray from it
crosses the rings an odd number of times), so a hole stays a hole and an island in a
hole stays an island.

Rings come from the same tracer as the export, simplified the same way (Douglas-
Peucker through the pixel-edge midpoints). `rings_to_mask` is the even-odd fill at
pixel centres; the labeling page's `static/js/label/rasterise.js` is the same
algorithm, so what the page saves is what a test here computes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .polygons import _douglas_peucker_closed, _edge_midpoints, trace_loops

DEFAULT_TOLERANCE = 1.0  # pixels: keeps a SAM mask's shape, IoU well above 0.98
MAX_TOLERANCE = 64.0
MAX_OUTLINE_VERTICES = 2000  # more handles than anyone can drag; also the JSON size
MAX_OUTLINE_RINGS = 200


class OutlineTooComplex(ValueError):
    """No tolerance up to MAX_TOLERANCE gets the outline under the vertex bounds."""


@dataclass(frozen=True)
class Outline:
    rings: list[np.ndarray]  # each (N, 2) float64 (x, y), N >= 3, implicitly closed
    tolerance: float  # the tolerance used: the one asked for, or coarser to fit the bounds

    @property
    def vertices(self) -> int:
        return sum(len(ring) for ring in self.rings)


MAX_TRACED_LOOPS = 20 * MAX_OUTLINE_RINGS  # simplifying is a Python loop per ring
# Unit pixel edges between mask and background. Tracing costs about 1 s per 100k;
# a SAM mask's outline, even on a 50-megapixel image, has far fewer.
MAX_BOUNDARY_EDGES = 300_000


def boundary_edges(mask: np.ndarray) -> int:
    """How many unit pixel edges separate the mask from background (a cheap count)."""
    padded = np.pad(mask, 1)
    return int(
        np.count_nonzero(padded[:, 1:] != padded[:, :-1])
        + np.count_nonzero(padded[1:] != padded[:-1])
    )


def _traced(mask: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The mask's boundary loops (corner vertices, bbox-relative) and the bbox origin."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return [], np.zeros(2)
    cols = np.flatnonzero(mask.any(axis=0))
    crop = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    edges = boundary_edges(crop)
    if edges > MAX_BOUNDARY_EDGES:
        # Counted before tracing, which would take seconds: noise has an edge per pixel.
        raise OutlineTooComplex(
            f"The mask's outline is {edges} pixel edges long; at most {MAX_BOUNDARY_EDGES} "
            "can be traced for editing. Use the brush and eraser."
        )
    loops = trace_loops(crop)
    if len(loops) > MAX_TRACED_LOOPS:
        # Refused before simplifying: a speckled mask has a loop per speck.
        raise OutlineTooComplex(
            f"The mask has {len(loops)} separate outlines and holes; at most "
            f"{MAX_OUTLINE_RINGS} can be edited as polygons. Use the brush and eraser."
        )
    return [loops.ring(i) for i in range(len(loops))], np.array([cols[0], rows[0]], float)


def _simplified(loops: list[np.ndarray], offset: np.ndarray, tolerance: float) -> list[np.ndarray]:
    rings = []
    for loop in loops:
        ring = _douglas_peucker_closed(_edge_midpoints(loop), tolerance)
        if len(ring) >= 3 and abs(_area2(ring)) > 0:
            rings.append(ring.astype(np.float64) + offset)
    # Largest first: the page lists and draws the main outline before its holes.
    rings.sort(key=lambda r: -abs(_area2(r)))
    return rings


def mask_outline(
    mask: np.ndarray,
    tolerance: float = DEFAULT_TOLERANCE,
    max_vertices: int = MAX_OUTLINE_VERTICES,
    max_rings: int = MAX_OUTLINE_RINGS,
) -> Outline:
    """The rings of a bool (H, W) mask, simplified at `tolerance` pixels.

    An outline over `max_vertices` is simplified again at twice the tolerance, until it
    fits or the tolerance passes MAX_TOLERANCE (then `OutlineTooComplex`): a ragged
    mask still gets an outline to edit, and the caller learns the tolerance used.
    More than `max_rings` rings (a speckled mask) is `OutlineTooComplex` at once:
    coarsening would drop the speckles rather than outline them.
    """
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}.")
    if not math.isfinite(tolerance) or not 0 < tolerance <= MAX_TOLERANCE:
        raise ValueError(f"tolerance must be above 0 and at most {MAX_TOLERANCE:g} pixels.")
    loops, offset = _traced(mask.astype(bool, copy=False))
    used = float(tolerance)
    while True:
        rings = _simplified(loops, offset, used)
        if len(rings) > max_rings:
            raise OutlineTooComplex(
                f"The mask has {len(rings)} separate outlines and holes; at most "
                f"{max_rings} can be edited as polygons. Use the brush and eraser."
            )
        outline = Outline(rings, used)
        if outline.vertices <= max_vertices:
            return outline
        if used * 2 > MAX_TOLERANCE:
            raise OutlineTooComplex(
                f"The outline needs {outline.vertices} vertices even simplified at "
                f"{used:g} px; at most {max_vertices} can be edited. Use the brush and eraser."
            )
        used *= 2


def rings_to_mask(rings: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """Fill closed rings ((N, 2) arrays of x, y) with the even-odd rule.

    A pixel is set when its centre (x + 0.5, y + 0.5) lies inside; each row is scanned
    once, edges counted half-open in y so a vertex exactly on a scanline is crossed once.
    """
    out = np.zeros((height, width), dtype=bool)
    edges = []
    for ring in rings:
        pts = np.asarray(ring, dtype=np.float64).reshape(-1, 2)
        if len(pts) >= 3:
            edges.append(np.concatenate([pts, np.roll(pts, -1, axis=0)], axis=1))
    if not edges:
        return out
    e = np.concatenate(edges)
    e = e[e[:, 1] != e[:, 3]]  # horizontal edges cross no scanline
    if not len(e):
        return out
    x0, y0, x1, y1 = e.T
    low, high = np.minimum(y0, y1), np.maximum(y0, y1)
    first = max(0, math.floor(low.min()))
    last = min(height, math.ceil(high.max()) + 1)
    for row in range(first, last):
        yc = row + 0.5
        hit = (low <= yc) & (yc < high)
        if not hit.any():
            continue
        xs = np.sort(x0[hit] + (yc - y0[hit]) * (x1[hit] - x0[hit]) / (y1[hit] - y0[hit]))
        # Pixels whose centre lies in [xa, xb): columns ceil(xa - 0.5) .. ceil(xb - 0.5) - 1.
        starts = np.clip(np.ceil(xs[0::2] - 0.5), 0, width).astype(np.int64)
        ends = np.clip(np.ceil(xs[1::2] - 0.5), 0, width).astype(np.int64)
        for a, b in zip(starts, ends, strict=True):
            if b > a:
                out[row, a:b] = True
    return out


def _area2(ring: np.ndarray) -> float:
    x = ring[:, 0].astype(np.float64)
    y = ring[:, 1].astype(np.float64)
    return float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))
