"""Trace a binary mask into COCO polygons that keep holes.

This module holds the algorithm only; `inference.masks.mask_to_polygons` validates
input and is the public entry point.

Why it works the way it does:

* Outlines run along pixel *edges*, so every vertex sits on an integer pixel corner
  (pixel ``(row, col)`` covers ``[col, col+1] x [row, row+1]``). pycocotools samples
  pixel centres, so an edge-following outline rasterises back to exactly the input.
  (With a tolerance, Douglas-Peucker then simplifies the ring of edge midpoints.)
* pycocotools fills one polygon with the even-odd rule (every boundary crossing in a
  column toggles the fill), and a list of polygons is merged by union. A hole can
  therefore not be its own polygon (the union would fill it again). Instead each
  hole ring is spliced into its component's outer ring through a zero-width bridge:
  the bridge is walked there and back, its crossings toggle twice and cancel, and the
  hole ring itself toggles the fill off inside.
* Foreground is 8-connected (as in SAM's post-processing), so background, and with
  it every hole, is 4-connected. Pixels touching only at a corner belong to one part.
* Tracing is vectorised: every boundary edge gets its successor from a 2x2
  neighbourhood look-up, and loops are pulled out of that successor permutation by
  pointer jumping, so a noisy mask with a million edges costs no Python loop per edge.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

# Edge directions, clockwise on screen (y grows downwards): +x, +y, -x, -y.
# Each edge is walked with foreground on its right-hand side.
_DX = np.array([1, 0, -1, 0], dtype=np.int64)
_DY = np.array([0, 1, 0, -1], dtype=np.int64)
# Pixels just ahead of an edge's end vertex (x, y), as (row, col) offsets from it:
# ahead-left and ahead-right of the direction of travel.
_AL_DR = np.array([-1, 0, 0, -1], dtype=np.int64)
_AL_DC = np.array([0, 0, -1, -1], dtype=np.int64)
_AR_DR = np.array([0, 0, -1, -1], dtype=np.int64)
_AR_DC = np.array([0, -1, -1, 0], dtype=np.int64)
# The foreground pixel on the right of an edge, as (row, col) offsets from its start.
_RP_DR = np.array([0, 0, -1, -1], dtype=np.int64)
_RP_DC = np.array([0, -1, -1, 0], dtype=np.int64)

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


class _Loops:
    """Closed boundary loops: corner vertices of all loops, concatenated in order."""

    def __init__(
        self, xy: np.ndarray, starts: np.ndarray, labels: np.ndarray, area2: np.ndarray
    ) -> None:
        self.xy = xy  # (V, 2) int64 corner vertices (x, y), loop after loop
        self.starts = starts  # (L + 1,) offsets into xy; loop i is xy[starts[i]:starts[i+1]]
        self.labels = labels  # (L,) component label of the foreground each loop bounds
        self.area2 = area2  # (L,) twice the signed area: > 0 outer outline, < 0 hole

    def __len__(self) -> int:
        return len(self.labels)

    def ring(self, i: int) -> np.ndarray:
        return self.xy[self.starts[i] : self.starts[i + 1]]


def _boundary_edges(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every unit pixel edge between foreground and background, foreground on the right.

    Returns start x, start y and direction (0..3), sorted by (y, x, direction).
    """
    padded = np.pad(mask, 1)
    inner = padded[1:-1, 1:-1]
    # (neighbour that must be background, start-x offset, start-y offset); the
    # direction is the index: top edge walked +x, right +y, bottom -x, left -y.
    sides = (
        (padded[:-2, 1:-1], 0, 0),
        (padded[1:-1, 2:], 1, 0),
        (padded[2:, 1:-1], 1, 1),
        (padded[1:-1, :-2], 0, 1),
    )
    xs, ys, ds = [], [], []
    for direction, (neighbour, ox, oy) in enumerate(sides):
        rows, cols = np.nonzero(inner & ~neighbour)  # one side at a time: less memory
        xs.append(cols.astype(np.int64) + ox)
        ys.append(rows.astype(np.int64) + oy)
        ds.append(np.full(rows.size, direction, dtype=np.int64))
    x, y, d = np.concatenate(xs), np.concatenate(ys), np.concatenate(ds)
    order = np.lexsort((d, x, y))
    return x[order], y[order], d[order]


def _cycle_heads(nxt: np.ndarray) -> np.ndarray:
    """For a permutation made of cycles, the smallest index in each element's cycle.

    Pointer jumping: after step k every element knows the minimum over the next 2**k
    elements. Once a step changes nothing, that minimum is the whole cycle's.
    """
    head = np.arange(nxt.size)
    jump = nxt.copy()
    while True:
        new = np.minimum(head, head[jump])
        if np.array_equal(new, head):
            return head
        head = new
        jump = jump[jump]


def _distance_to_tail(nxt: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Steps from each element to the last element of its cycle (the head's predecessor).

    List ranking by pointer jumping, after cutting every cycle just before its head.
    """
    idx = np.arange(nxt.size)
    tail = nxt == head[idx]
    jump = np.where(tail, idx, nxt)
    dist = np.where(tail, 0, 1).astype(np.int64)
    while True:
        dist = dist + dist[jump]
        new_jump = jump[jump]
        if np.array_equal(new_jump, jump):
            return dist
        jump = new_jump


def trace_loops(mask: np.ndarray) -> _Loops:
    """Trace every boundary loop of a bool (H, W) mask, with the corners of each."""
    width = mask.shape[1]
    x, y, d = _boundary_edges(mask)
    n_edges = x.size
    if n_edges == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Loops(np.zeros((0, 2), dtype=np.int64), np.zeros(1, np.int64), empty, empty)

    # Successor of each edge: from its end vertex, turn left if the pixel ahead-left is
    # foreground (this joins diagonal neighbours: 8-connectivity), else go straight if
    # the pixel ahead-right is foreground, else turn right.
    ex, ey = x + _DX[d], y + _DY[d]
    padded = np.pad(mask, 1)
    ahead_left = padded[ey + _AL_DR[d] + 1, ex + _AL_DC[d] + 1]
    ahead_right = padded[ey + _AR_DR[d] + 1, ex + _AR_DC[d] + 1]
    nd = np.where(ahead_left, (d + 3) % 4, np.where(ahead_right, d, (d + 1) % 4))
    # Edges are sorted by this key, so the successor's index is a binary search away.
    stride = width + 1
    keys = (y * stride + x) * 4 + d
    nxt = np.searchsorted(keys, (ey * stride + ex) * 4 + nd)
    assert np.array_equal(keys[nxt], (ey * stride + ex) * 4 + nd), "broken outline"

    # Order edges loop by loop, each loop starting at its smallest key: its top-left
    # corner. That start is also where holes get bridged, see trace_polygons.
    head = _cycle_heads(nxt)
    order = np.lexsort((-_distance_to_tail(nxt, head), head))
    x, y, d, head = x[order], y[order], d[order], head[order]
    first = np.flatnonzero(np.r_[True, head[1:] != head[:-1]])
    loop_id = np.cumsum(np.r_[False, head[1:] != head[:-1]])

    # Keep only corners: edges whose direction differs from the previous edge's.
    prev = np.arange(n_edges) - 1
    last = np.r_[first[1:], n_edges] - 1
    prev[first] = last
    corner = d != d[prev]
    corner_ids = loop_id[corner]
    xy = np.stack([x[corner], y[corner]], axis=1)
    starts = np.searchsorted(corner_ids, np.arange(first.size + 1))

    # Twice the signed (shoelace) area, summed edge by edge: a +x edge at height y
    # adds -y, a -x edge adds +y, a +y edge at abscissa x adds x, a -y edge adds -x.
    contrib = np.choose(d, [-y, x, y, -x])
    area2 = np.bincount(loop_id, weights=contrib).astype(np.int64)

    # Component label of the foreground pixel right of each loop's first edge.
    labels_img, _ = ndimage.label(mask, structure=_EIGHT_CONNECTED)
    fd = d[first]
    labels = labels_img[y[first] + _RP_DR[fd], x[first] + _RP_DC[fd]].astype(np.int64)
    assert (labels > 0).all(), "loop does not border foreground"
    return _Loops(xy, starts, labels, area2)


def _douglas_peucker_closed(ring: np.ndarray, tolerance: float) -> np.ndarray:
    """Simplify a closed ring, keeping vertex 0 and the vertex farthest from it."""
    pts = ring.astype(np.float64)
    n = len(pts)
    far = int(np.argmax(((pts - pts[0]) ** 2).sum(axis=1)))
    chain = np.vstack([pts, pts[:1]])  # closed chain: index n is vertex 0 again
    keep = np.zeros(n + 1, dtype=bool)
    keep[[0, far, n]] = True
    stack = [(0, far), (far, n)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        a, b = chain[i], chain[j]
        seg = chain[i + 1 : j]
        ab = b - a
        length = float(np.hypot(ab[0], ab[1]))
        if length == 0.0:
            dist = np.hypot(seg[:, 0] - a[0], seg[:, 1] - a[1])
        else:
            dist = np.abs(ab[0] * (seg[:, 1] - a[1]) - ab[1] * (seg[:, 0] - a[0])) / length
        k = int(np.argmax(dist))
        if dist[k] > tolerance:
            mid = i + 1 + k
            keep[mid] = True
            stack.append((i, mid))
            stack.append((mid, j))
    return ring[keep[:n]]


def _edge_midpoints(corners: np.ndarray) -> np.ndarray:
    """The ring through the midpoints of the boundary's unit pixel edges.

    Simplifying the staircase of pixel corners would pick mostly outer (or inner)
    corners and bias the area; the midpoints lie on the boundary a human would draw
    (they are the marching-squares contour). Only the first and last midpoint of each
    straight run matter to Douglas-Peucker, so only those are produced.
    """
    ahead = np.roll(corners, -1, axis=0)
    step = ahead - corners
    length = np.abs(step).sum(axis=1)
    unit = step / length[:, None]
    first = corners + 0.5 * unit
    last = ahead - 0.5 * unit
    points = np.stack([first, last], axis=1).reshape(-1, 2)
    # A run of length 1 has a single midpoint.
    keep = np.ones(len(points), dtype=bool)
    keep[1::2] = length > 1
    return points[keep]


def _splice_holes(outer: np.ndarray, holes: list[np.ndarray]) -> np.ndarray:
    """One ring: the outer ring with each hole ring inserted through a bridge.

    Each hole's first vertex (its top-left corner, unless simplified) is bridged to
    the nearest outer vertex, giving ``... O[a], H[0], ..., H[-1], H[0], O[a], ...``.
    The bridge O[a]-H[0] is walked both ways, so it adds no area under the even-odd
    rule.
    """
    if not holes:
        return outer
    # A k-d tree keeps this fast for sponge-like parts with thousands of holes.
    _, nearest = cKDTree(outer).query(np.stack([hole[0] for hole in holes]))
    anchors = np.asarray(nearest, dtype=np.int64).reshape(-1).tolist()
    pieces: list[np.ndarray] = []
    prev = 0
    for k in np.argsort(anchors, kind="stable"):
        a, hole = anchors[k], holes[k]
        pieces += [outer[prev : a + 1], hole, hole[:1], outer[a : a + 1]]
        prev = a + 1
    pieces.append(outer[prev:])
    return np.concatenate(pieces)


def trace_polygons(mask: np.ndarray, tolerance: float = 0.0) -> list[list[float]]:
    """COCO polygons for a bool (H, W) mask: one polygon per 8-connected part.

    With ``tolerance == 0`` the polygons rasterise (pycocotools) back to exactly the
    mask. A positive tolerance simplifies each ring with Douglas-Peucker; a ring left
    with fewer than 3 vertices or no area is dropped (a part vanishes, a hole fills).
    """
    # Work on the bounding box only: SAM masks usually cover a small part of the image.
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return []
    cols = np.flatnonzero(mask.any(axis=0))
    offset = np.array([cols[0], rows[0]])
    loops = trace_loops(mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    outers: dict[int, np.ndarray] = {}
    holes: dict[int, list[np.ndarray]] = {}
    order: list[int] = []
    for i in range(len(loops)):
        ring = loops.ring(i)
        if tolerance > 0:
            ring = _douglas_peucker_closed(_edge_midpoints(ring), tolerance)
            if len(ring) < 3 or _area2(ring) == 0:
                continue  # thinner than the tolerance: simplified away
        label = int(loops.labels[i])
        if loops.area2[i] > 0:
            outers[label] = ring
            order.append(label)
        else:
            holes.setdefault(label, []).append(ring)
    polygons = []
    for label in order:
        ring = _splice_holes(outers[label], holes.get(label, []))
        polygons.append((ring + offset).astype(np.float64).ravel().tolist())
    return polygons


def _area2(ring: np.ndarray) -> float:
    x = ring[:, 0].astype(np.float64)
    y = ring[:, 1].astype(np.float64)
    return float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))
