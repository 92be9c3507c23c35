"""Mask helpers: COCO RLE, area, bbox, small-region clean-up and polygons.

Masks are bool numpy arrays of shape (H, W). RLE follows COCO: column-major run
lengths starting with a background run, ``{"size": [H, W], "counts": ...}``.

pycocotools does the heavy lifting, but its C code trusts its input: a compressed
string that ends mid-number makes it read past the end of the buffer, counts that
fall short of H*W make `decode` return uninitialised memory (seen with 2.0.11:
``{"size": [2, 2], "counts": "0"}`` gives garbage pixels), and counts that overshoot
wrote past the mask in older releases. Every RLE coming from outside is therefore
parsed and checked here first (`_parse_rle`); only checked data reaches pycocotools.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask
from scipy import ndimage

from inference.errors import InferenceError
from inference.polygons import trace_polygons

# Bounds on what we accept. 2**28 pixels (268 Mpx) is above the app's default image
# limit (100 Mpx) and keeps every run length below 2**28, so each compressed number
# fits in at most 6 characters and pycocotools' 32-bit arithmetic never overflows.
MAX_MASK_SIDE = 1 << 16
MAX_MASK_PIXELS = 1 << 28
# pycocotools rasterises a polygon by walking its outline at 5x resolution and holds
# ~80 bytes per outline pixel; this caps one call's outline length (in pixels),
# far above any real object (the exact outline of a 1000-pixel-radius disk: ~13,000).
MAX_POLYGON_PERIMETER = 2_000_000
# Compressed counts use ASCII 48..111; a character carries 5 value bits and a
# "more follows" bit (0x20); the last character of a number has 0x10 as sign bit.
_RLE_CHAR_MIN, _RLE_CHAR_MAX = 48, 111
_RLE_MAX_DIGITS = 6

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


class MaskFormatError(InferenceError, ValueError):
    """A mask, RLE or polygon is malformed: wrong shape, size, counts or coordinates."""


# --------------------------------------------------------------------------- checks


def _check_size(height: Any, width: Any) -> tuple[int, int]:
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise MaskFormatError(f"Mask {name} must be an integer, got {value!r}.")
        if not 0 < value <= MAX_MASK_SIDE:
            raise MaskFormatError(f"Mask {name} must be in 1..{MAX_MASK_SIDE}, got {value}.")
    h, w = int(height), int(width)
    if h * w > MAX_MASK_PIXELS:
        raise MaskFormatError(f"Mask of {h}x{w} exceeds {MAX_MASK_PIXELS} pixels.")
    return h, w


def _as_mask(mask: Any) -> np.ndarray:
    """The input as a bool (H, W) array (no copy when it already is one)."""
    if not isinstance(mask, np.ndarray):
        raise MaskFormatError(f"Mask must be a numpy array, got {type(mask).__name__}.")
    if mask.ndim != 2:
        raise MaskFormatError(f"Mask must have shape (H, W), got {mask.shape}.")
    _check_size(mask.shape[0], mask.shape[1])
    return mask if mask.dtype == np.bool_ else mask != 0


def _parse_compressed(counts: str | bytes) -> np.ndarray:
    """Decode a COCO compressed counts string exactly as pycocotools does, but checked.

    Vectorised: find where each number ends, gather the 5-bit groups with
    ``reduceat``, sign-extend, then undo the delta coding (from the 4th count on,
    each count is stored relative to the count two places before it).
    """
    if isinstance(counts, str):
        if not counts.isascii():
            raise MaskFormatError("RLE counts string has non-ASCII characters.")
        counts = counts.encode("ascii")
    raw = np.frombuffer(counts, dtype=np.uint8)
    if raw.size == 0:
        raise MaskFormatError("RLE counts string is empty.")
    if raw.min() < _RLE_CHAR_MIN or raw.max() > _RLE_CHAR_MAX:
        raise MaskFormatError("RLE counts string has characters outside '0'..'o'.")
    c = raw.astype(np.int64) - _RLE_CHAR_MIN
    more = (c & 0x20) != 0
    if more[-1]:
        # pycocotools would read past the end of the string here.
        raise MaskFormatError("RLE counts string ends in the middle of a number.")
    ends = np.flatnonzero(~more)
    begins = np.r_[0, ends[:-1] + 1]
    digits = ends - begins + 1
    if digits.max() > _RLE_MAX_DIGITS:
        raise MaskFormatError("RLE counts string has a number too large for any mask.")
    shift = 5 * (np.arange(c.size) - np.repeat(begins, digits))
    values = np.add.reduceat((c & 0x1F) << shift, begins)
    negative = (c[ends] & 0x10) != 0
    values[negative] -= np.int64(1) << (5 * digits[negative])
    runs = values.copy()
    runs[1::2] = np.cumsum(values[1::2])
    runs[2::2] = np.cumsum(values[2::2])
    return runs


def _parse_uncompressed(counts: Sequence[Any] | np.ndarray) -> np.ndarray:
    if isinstance(counts, np.ndarray):
        arr = counts
    else:
        if not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in counts):
            raise MaskFormatError("Uncompressed RLE counts must be a list of integers.")
        try:
            arr = np.array(counts, dtype=np.int64)
        except OverflowError:
            raise MaskFormatError("Uncompressed RLE counts has a huge number.") from None
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise MaskFormatError("Uncompressed RLE counts must be a flat list of integers.")
    if arr.size == 0:
        raise MaskFormatError("RLE counts is empty.")
    return arr.astype(np.int64, copy=False)


def _parse_rle(rle: Any) -> tuple[int, int, np.ndarray, bytes | None]:
    """Check an RLE dict. Returns (H, W, run lengths, compressed bytes or None)."""
    if not isinstance(rle, Mapping) or "size" not in rle or "counts" not in rle:
        raise MaskFormatError("RLE must be a mapping with 'size' and 'counts'.")
    size = rle["size"]
    if not isinstance(size, list | tuple | np.ndarray) or len(size) != 2:
        raise MaskFormatError(f"RLE size must be [height, width], got {size!r}.")
    height, width = _check_size(size[0], size[1])
    counts = rle["counts"]
    if isinstance(counts, str | bytes):
        compressed: bytes | None = counts.encode() if isinstance(counts, str) else counts
        runs = _parse_compressed(counts)
    elif isinstance(counts, list | tuple | np.ndarray):
        compressed = None
        runs = _parse_uncompressed(counts)
    else:
        raise MaskFormatError("RLE counts must be a string or a list of integers.")
    total = height * width
    # Bound each run before summing: a sum can hide negatives, and huge values could
    # wrap in pycocotools' 32-bit counters.
    if runs.min() < 0 or runs.max() > total:
        raise MaskFormatError("RLE counts has a run length out of range.")
    if int(runs.sum()) != total:
        raise MaskFormatError(
            f"RLE counts cover {int(runs.sum())} pixels, but size {height}x{width} has {total}."
        )
    return height, width, runs, compressed


def _compressed(rle: Any) -> dict[str, Any]:
    """A checked RLE in the form pycocotools' C functions take (bytes counts)."""
    height, width, runs, compressed = _parse_rle(rle)
    if compressed is None:
        compressed = coco_mask.frPyObjects(
            {"size": [height, width], "counts": runs.tolist()}, height, width
        )["counts"]
    return {"size": [height, width], "counts": compressed}


# ------------------------------------------------------------------------------ RLE


def rle_encode(mask: np.ndarray) -> dict:
    """Bool (H, W) mask -> COCO compressed RLE ``{"size": [H, W], "counts": str}``."""
    m = _as_mask(mask)
    # pycocotools walks memory column by column, so it needs a Fortran-ordered
    # uint8 array; viewing bool as uint8 is free, the layout change is one copy.
    fortran = np.asfortranarray(m.view(np.uint8))
    rle = coco_mask.encode(fortran)
    return {"size": [int(m.shape[0]), int(m.shape[1])], "counts": rle["counts"].decode("ascii")}


def rle_decode(rle: dict) -> np.ndarray:
    """COCO RLE (compressed str/bytes or uncompressed list counts) -> bool (H, W).

    Raises MaskFormatError for anything malformed; never hands bad data to C code.
    """
    height, width, runs, _ = _parse_rle(rle)
    # Runs alternate background/foreground; expanding them in numpy is as fast as
    # pycocotools and needs no second parse.
    values = np.zeros(runs.size, dtype=np.bool_)
    values[1::2] = True
    flat = np.repeat(values, runs)
    return np.ascontiguousarray(flat.reshape(width, height).T)


def rle_normalize(rle: Any) -> tuple[dict, int]:
    """A checked RLE (either form) as compressed RLE ``{"size", "counts": str}``, and
    its area, without drawing its pixels: the same mask `rle_encode(rle_decode(rle))`
    gives, at a fraction of the cost on large images."""
    height, width, runs, _ = _parse_rle(rle)
    canonical = _canonical_runs(runs)
    counts = coco_mask.frPyObjects(
        {"size": [height, width], "counts": canonical.tolist()}, height, width
    )["counts"]
    return {"size": [height, width], "counts": counts.decode("ascii")}, int(canonical[1::2].sum())


def _canonical_runs(runs: np.ndarray) -> np.ndarray:
    """The same pixels as the fewest runs: zero-length runs dropped and their
    neighbours joined, so padding (`[1, 0, 0, …, 2]`) cannot bloat what is stored."""
    values = np.arange(runs.size) % 2  # runs alternate background (0), foreground (1)
    keep = runs > 0
    values, lengths = values[keep], runs[keep]
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    lengths, values = np.add.reduceat(lengths, starts), values[starts]
    # COCO's runs begin with background: an image whose first pixel is set starts at 0.
    return np.r_[0, lengths] if values[0] == 1 else lengths


def rle_area_bbox(rle: dict) -> tuple[int, list[float]]:
    """`rle_area` and `rle_bbox` together, checking the RLE once."""
    compressed = _compressed(rle)
    return int(coco_mask.area(compressed)), [float(v) for v in coco_mask.toBbox(compressed)]


def rle_area(rle: dict) -> int:
    """Number of foreground pixels of a COCO RLE."""
    return int(coco_mask.area(_compressed(rle)))


def rle_bbox(rle: dict) -> list[float]:
    """COCO bbox ``[x, y, w, h]`` of an RLE; ``[0, 0, 0, 0]`` when empty."""
    return [float(v) for v in coco_mask.toBbox(_compressed(rle))]


# ----------------------------------------------------------------------- bool masks


def mask_area(mask: np.ndarray) -> int:
    return int(np.count_nonzero(_as_mask(mask)))


def mask_bbox(mask: np.ndarray) -> list[float]:
    """COCO bbox ``[x, y, w, h]`` in pixels (as pycocotools' toBbox); zeros when empty."""
    m = _as_mask(mask)
    cols = np.flatnonzero(m.any(axis=0))
    if cols.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    rows = np.flatnonzero(m.any(axis=1))
    x0, x1, y0, y1 = int(cols[0]), int(cols[-1]), int(rows[0]), int(rows[-1])
    return [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)]


def remove_small_regions(mask: np.ndarray, min_area: int, mode: str) -> tuple[np.ndarray, bool]:
    """Fill small holes or drop small islands, as SAM's automatic mask generator does.

    mode "holes": every 8-connected background region under ``min_area`` pixels is
    filled (like SAM, this includes small background pockets at the image border).
    mode "islands": every 8-connected foreground region under ``min_area`` is
    removed, except that when all of them are small the largest one is kept, so a
    mask never vanishes entirely. Returns (new mask, whether anything changed).
    """
    m = _as_mask(mask)
    if mode not in ("holes", "islands"):
        raise ValueError(f"mode must be 'holes' or 'islands', got {mode!r}.")
    if min_area <= 0:
        return m, False
    fill_holes = mode == "holes"
    labels, count = ndimage.label(~m if fill_holes else m, structure=_EIGHT_CONNECTED)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    small = sizes < min_area
    if not small.any():
        return m, False
    if fill_holes:
        return m | np.r_[False, small][labels], True
    keep = ~small
    if not keep.any():
        keep[int(np.argmax(sizes))] = True
    if keep.all():
        return m, False
    return np.r_[False, keep][labels], True


# ------------------------------------------------------------------------- polygons


def mask_to_polygons(mask: np.ndarray, tolerance: float = 0.0) -> list[list[float]]:
    """Bool (H, W) mask -> COCO polygons ``[[x1, y1, x2, y2, ...], ...]`` with holes.

    One polygon per 8-connected part; its holes are spliced in through zero-width
    bridges, which pycocotools' even-odd fill leaves empty (see inference.polygons).
    With ``tolerance == 0`` (default) vertices lie on pixel corners and the polygons
    render back to exactly the mask. A positive tolerance (pixels) simplifies the
    outline through the pixel-edge midpoints with Douglas-Peucker, and drops rings
    (parts or holes) thinner than about the tolerance.
    """
    m = _as_mask(mask)
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}.")
    return trace_polygons(m, float(tolerance))


def _polygon_array(polygon: Any, index: int) -> np.ndarray:
    if isinstance(polygon, np.ndarray):
        if polygon.ndim != 1 or polygon.dtype.kind not in "iuf":
            raise MaskFormatError(f"Polygon {index} must be a flat list of numbers.")
        arr = polygon.astype(np.float64)
    elif isinstance(polygon, list | tuple):
        if not all(
            isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
            for v in polygon
        ):
            raise MaskFormatError(f"Polygon {index} must be a flat list of numbers.")
        try:
            arr = np.array(polygon, dtype=np.float64)
        except OverflowError:
            raise MaskFormatError(f"Polygon {index} has a huge number.") from None
    else:
        raise MaskFormatError(f"Polygon {index} must be a list of numbers.")
    if arr.size < 6 or arr.size % 2:
        raise MaskFormatError(
            f"Polygon {index} needs an even number (at least 6) of coordinates, got {arr.size}."
        )
    if not np.isfinite(arr).all():
        raise MaskFormatError(f"Polygon {index} has a NaN or infinite coordinate.")
    return arr


def polygons_to_mask(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    """Render COCO polygons (union of even-odd filled rings) to a bool (H, W) mask.

    Coordinates may stray outside the image by up to one image size (pycocotools
    clips them); farther than that is rejected, as is an outline so long that
    rasterising it would need unreasonable memory.
    """
    h, w = _check_size(height, width)
    if not isinstance(polygons, list | tuple):
        raise MaskFormatError("Polygons must be a list of coordinate lists.")
    arrays = [_polygon_array(p, i) for i, p in enumerate(polygons)]
    if not arrays:
        return np.zeros((h, w), dtype=np.bool_)
    margin = max(h, w)
    perimeter = 0.0
    for i, arr in enumerate(arrays):
        xy = arr.reshape(-1, 2)
        if (xy < -margin).any() or (xy[:, 0] > w + margin).any() or (xy[:, 1] > h + margin).any():
            raise MaskFormatError(f"Polygon {i} lies far outside the {h}x{w} image.")
        step = np.abs(np.roll(xy, -1, axis=0) - xy).max(axis=1)
        perimeter += float(step.sum()) + len(xy)
    if perimeter > MAX_POLYGON_PERIMETER:
        raise MaskFormatError(
            f"Polygons are too long to render ({perimeter:.0f} > {MAX_POLYGON_PERIMETER} px)."
        )
    rles = coco_mask.frPyObjects(arrays, h, w)
    # pycocotools' own decode warns under numpy 2; ours is as fast and checks again.
    return rle_decode(coco_mask.merge(rles, intersect=0))
