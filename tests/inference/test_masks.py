"""RLE, area, bbox and small-region helpers in inference.masks."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pycocotools import mask as coco_mask

from inference.masks import (
    MAX_MASK_PIXELS,
    MAX_MASK_SIDE,
    MaskFormatError,
    mask_area,
    mask_bbox,
    remove_small_regions,
    rle_area,
    rle_area_bbox,
    rle_bbox,
    rle_decode,
    rle_encode,
    rle_normalize,
)

# pycocotools' decode (the reference here) trips a numpy 2 deprecation warning.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

RNG = np.random.default_rng(20240611)


def disk(height: int, width: int, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:height, :width]
    return (xx - cx) ** 2 + (yy - cy) ** 2 < r * r


def coco_counts(mask: np.ndarray) -> bytes:
    return coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"]


def uncompressed_counts(mask: np.ndarray) -> list[int]:
    flat = mask.T.ravel()  # column-major, as COCO
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.r_[0, change, flat.size]
    runs = np.diff(bounds).tolist()
    return [0, *runs] if flat[0] else runs


SHAPES = [(1, 1), (1, 17), (17, 1), (3, 5), (31, 47), (64, 64), (101, 3)]


# ----------------------------------------------------------------------- round trips


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("density", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_rle_round_trips(shape, density):
    mask = RNG.random(shape) < density
    rle = rle_encode(mask)
    decoded = rle_decode(rle)
    assert decoded.dtype == np.bool_
    assert decoded.shape == shape
    assert np.array_equal(decoded, mask)


def test_rle_encode_is_json_safe_and_matches_pycocotools():
    mask = disk(48, 64, 30, 20, 12)
    rle = rle_encode(mask)
    assert rle == json.loads(json.dumps(rle))
    assert rle["size"] == [48, 64]
    assert isinstance(rle["counts"], str)
    assert rle["counts"].encode() == coco_counts(mask)


def test_rle_encode_handles_non_contiguous_and_non_bool_input():
    base = RNG.random((40, 60)) < 0.5
    view = base[::2, 1::3]  # strided view
    assert np.array_equal(rle_decode(rle_encode(view)), view)
    as_int = base.astype(np.uint8) * 7
    assert np.array_equal(rle_decode(rle_encode(as_int)), base)


def test_rle_decode_accepts_bytes_counts():
    mask = disk(20, 30, 10, 10, 6)
    rle = {"size": [20, 30], "counts": coco_counts(mask)}
    assert np.array_equal(rle_decode(rle), mask)


@pytest.mark.parametrize("shape", SHAPES)
def test_rle_decode_accepts_uncompressed_counts(shape):
    mask = RNG.random(shape) < 0.4
    counts = uncompressed_counts(mask)
    assert np.array_equal(rle_decode({"size": list(shape), "counts": counts}), mask)
    assert rle_area({"size": list(shape), "counts": counts}) == mask.sum()


def test_rle_decode_reads_coco_iscrowd_style_uncompressed_rle():
    # 3x2 mask, column-major: col0 = 0,1,1 ; col1 = 1,0,0  -> runs 1,3,2
    rle = {"size": [3, 2], "counts": [1, 3, 2]}
    expected = np.array([[0, 1], [1, 0], [1, 0]], dtype=bool)
    assert np.array_equal(rle_decode(rle), expected)


@settings(max_examples=200, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 24), st.integers(1, 24))))
def test_rle_round_trip_property(mask):
    rle = rle_encode(mask)
    assert np.array_equal(rle_decode(rle), mask)
    assert rle_area(rle) == int(mask.sum())
    assert rle_bbox(rle) == mask_bbox(mask)
    assert rle_area_bbox(rle) == (int(mask.sum()), mask_bbox(mask))


# ------------------------------------------------------------------------ area, bbox


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("density", [0.0, 0.05, 0.5, 1.0])
def test_area_and_bbox_agree_with_pycocotools(shape, density):
    mask = RNG.random(shape) < density
    coco_rle = {"size": list(shape), "counts": coco_counts(mask)}
    expected_area = int(coco_mask.area(coco_rle))
    expected_bbox = [float(v) for v in coco_mask.toBbox(coco_rle)]
    rle = rle_encode(mask)
    assert rle_area(rle) == expected_area == mask_area(mask)
    assert rle_bbox(rle) == expected_bbox == mask_bbox(mask)


def test_bbox_of_a_known_rectangle():
    mask = np.zeros((10, 20), dtype=bool)
    mask[2:5, 7:13] = True  # rows 2..4, cols 7..12
    assert mask_bbox(mask) == [7.0, 2.0, 6.0, 3.0]
    assert rle_bbox(rle_encode(mask)) == [7.0, 2.0, 6.0, 3.0]
    assert mask_area(mask) == 18


def test_empty_mask_has_zero_bbox_and_area():
    mask = np.zeros((5, 9), dtype=bool)
    assert mask_bbox(mask) == [0.0, 0.0, 0.0, 0.0]
    assert mask_area(mask) == 0
    assert rle_bbox(rle_encode(mask)) == [0.0, 0.0, 0.0, 0.0]
    assert rle_area(rle_encode(mask)) == 0


def test_bbox_and_area_of_uncompressed_rle():
    rle = {"size": [3, 2], "counts": [1, 3, 2]}
    assert rle_area(rle) == 3
    assert rle_bbox(rle) == [0.0, 0.0, 2.0, 3.0]


# --------------------------------------------------------------------- hostile input


def _bad(rle):
    with pytest.raises(MaskFormatError):
        rle_decode(rle)
    with pytest.raises(MaskFormatError):
        rle_area(rle)
    with pytest.raises(MaskFormatError):
        rle_bbox(rle)


GOOD_COUNTS = rle_encode(disk(8, 8, 4, 4, 3))["counts"]


@pytest.mark.parametrize(
    "rle",
    [
        None,
        [],
        "abc",
        {},
        {"size": [8, 8]},
        {"counts": GOOD_COUNTS},
        {"size": 8, "counts": GOOD_COUNTS},
        {"size": [8], "counts": GOOD_COUNTS},
        {"size": [8, 8, 1], "counts": GOOD_COUNTS},
        {"size": ["8", "8"], "counts": GOOD_COUNTS},
        {"size": [8.0, 8.0], "counts": GOOD_COUNTS},
        {"size": [True, 8], "counts": GOOD_COUNTS},
        {"size": [0, 8], "counts": GOOD_COUNTS},
        {"size": [-8, -8], "counts": GOOD_COUNTS},
        {"size": [MAX_MASK_SIDE + 1, 1], "counts": [MAX_MASK_SIDE + 1]},
        {"size": [2**40, 2**40], "counts": GOOD_COUNTS},
        {"size": [MAX_MASK_SIDE, MAX_MASK_SIDE], "counts": [MAX_MASK_SIDE**2]},
        {"size": [8, 9], "counts": GOOD_COUNTS},  # wrong size for these counts
        {"size": [8, 8], "counts": None},
        {"size": [8, 8], "counts": 64},
        {"size": [8, 8], "counts": {"a": 1}},
    ],
)
def test_it_rejects_malformed_rle(rle):
    _bad(rle)


@pytest.mark.parametrize(
    "counts",
    [
        "",  # pycocotools would hand back uninitialised memory
        "0",
        "PP",
        "0000o",  # ends mid-number: pycocotools reads past the string's end
        "o",
        "ooooooo1",  # a number longer than any valid count
        " 2",
        "2\x00",
        "é2",
        "\x7f\x7f",
        "~~~~",
        GOOD_COUNTS + "1",
        GOOD_COUNTS[:-1],
        b"\xff\xfe",
    ],
)
def test_it_rejects_garbage_compressed_counts(counts):
    _bad({"size": [8, 8], "counts": counts})


@pytest.mark.parametrize(
    "counts",
    [
        [],
        [63],  # sum too small
        [65],  # sum too large
        [32, 33, -1],  # negative run
        [2**40, -(2**40) + 64],  # huge runs that sum correctly
        [2**70],
        [1.0, 63.0],
        [True, 63],
        ["1", "63"],
        [[1, 63]],
    ],
)
def test_it_rejects_bad_uncompressed_counts(counts):
    _bad({"size": [8, 8], "counts": counts})


@settings(max_examples=400, deadline=None)
@given(
    st.binary(max_size=24) | st.text(alphabet=st.characters(min_codepoint=40, max_codepoint=120)),
    st.integers(-3, 12),
    st.integers(-3, 12),
)
def test_arbitrary_counts_either_decode_like_pycocotools_or_are_rejected(counts, h, w):
    rle = {"size": [h, w], "counts": counts}
    try:
        decoded = rle_decode(rle)
    except MaskFormatError:
        return
    # Whatever we accept is a well-formed RLE, so pycocotools must agree with us.
    raw = counts.encode() if isinstance(counts, str) else counts
    expected = coco_mask.decode({"size": [h, w], "counts": raw}).astype(bool)
    assert np.array_equal(decoded, expected)
    assert rle_area(rle) == int(expected.sum())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5000), min_size=1, max_size=30), st.integers(3, 7))
def test_any_valid_run_list_decodes_like_pycocotools(runs, width):
    # Non-canonical runs (zeros in the middle, long runs, shrinking runs) exercise
    # multi-character and negative delta-coded numbers in the compressed string.
    runs = [*runs, -sum(runs) % width or width]
    height = sum(runs) // width
    compressed = coco_mask.frPyObjects({"size": [height, width], "counts": runs}, height, width)
    expected = coco_mask.decode(compressed).astype(bool)
    assert np.array_equal(rle_decode(compressed), expected)
    assert np.array_equal(rle_decode({"size": [height, width], "counts": runs}), expected)
    assert rle_area(compressed) == int(expected.sum())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 400), min_size=1, max_size=30), st.integers(1, 9))
def test_normalize_gives_the_mask_a_full_decode_and_encode_gives(runs, width):
    # Any run list, canonical or not, in either form: same pixels, same area.
    runs = [*runs, -sum(runs) % width or width]
    height = sum(runs) // width
    for rle in (
        {"size": [height, width], "counts": runs},
        {**rle_encode(rle_decode({"size": [height, width], "counts": runs}))},
    ):
        clean, area = rle_normalize(rle)
        pixels = rle_decode(rle)
        # Exactly what drawing and encoding again gives: same pixels, fewest runs.
        assert clean == rle_encode(pixels) and area == int(pixels.sum())
        json.dumps(clean)


def test_normalize_drops_padding_runs():
    padded = {"size": [2, 2], "counts": [1, 1, *([0] * 20_000), 2]}
    assert rle_normalize(padded) == ({"size": [2, 2], "counts": "112"}, 1)
    leading = {"size": [1, 3], "counts": [0, 0, 0, 2, 1]}  # starts with set pixels
    assert rle_normalize(leading) == (rle_encode(np.array([[True, True, False]])), 2)


def test_normalize_checks_like_decode():
    for bad in ({"size": [2, 2], "counts": [1, 1]}, {"size": [2, 2], "counts": "!!"}, {}):
        with pytest.raises(MaskFormatError):
            rle_normalize(bad)


def test_it_rejects_masks_that_are_not_2d_arrays():
    bad_masks: list[Any] = [[[True]], np.zeros((2, 2, 1), bool), np.zeros(4, bool)]
    for bad in [*bad_masks, np.zeros((0, 3), bool)]:
        with pytest.raises(MaskFormatError):
            rle_encode(bad)


def test_size_limits_are_consistent():
    assert MAX_MASK_PIXELS <= MAX_MASK_SIDE**2
    # An RLE of the largest allowed mask decodes (all background, one run).
    side = MAX_MASK_PIXELS // MAX_MASK_SIDE
    assert rle_area({"size": [side, MAX_MASK_SIDE], "counts": [MAX_MASK_PIXELS]}) == 0


# -------------------------------------------------------------- remove_small_regions


def test_it_fills_small_holes_and_keeps_large_ones():
    mask = np.ones((40, 40), dtype=bool)
    mask[5:7, 5:7] = False  # 4-pixel hole
    mask[20:30, 20:30] = False  # 100-pixel hole
    out, changed = remove_small_regions(mask, 10, "holes")
    assert changed
    assert out[5:7, 5:7].all()
    assert not out[20:30, 20:30].any()
    assert out.sum() == mask.sum() + 4


def test_it_removes_small_islands_and_keeps_large_ones():
    mask = np.zeros((40, 40), dtype=bool)
    mask[1:3, 1:3] = True  # 4 pixels
    mask[10:20, 10:20] = True  # 100 pixels
    out, changed = remove_small_regions(mask, 10, "islands")
    assert changed
    assert not out[1:3, 1:3].any()
    assert np.array_equal(out[10:20, 10:20], mask[10:20, 10:20])
    assert out.sum() == 100


def test_islands_touching_at_a_corner_count_as_one_region():
    mask = np.zeros((10, 10), dtype=bool)
    mask[2:4, 2:4] = True
    mask[4:6, 4:6] = True  # diagonal neighbour: 8 pixels together
    out, changed = remove_small_regions(mask, 6, "islands")
    assert not changed
    assert np.array_equal(out, mask)


def test_when_every_island_is_small_the_largest_survives():
    mask = np.zeros((20, 20), dtype=bool)
    mask[1:3, 1:3] = True  # 4
    mask[10:13, 10:13] = True  # 9
    out, changed = remove_small_regions(mask, 50, "islands")
    assert changed
    assert out.sum() == 9
    assert out[10:13, 10:13].all()


def test_nothing_small_means_no_change():
    mask = disk(30, 30, 15, 15, 10)
    for mode in ("holes", "islands"):
        out, changed = remove_small_regions(mask, 5, mode)
        assert not changed
        assert np.array_equal(out, mask)
    out, changed = remove_small_regions(mask, 0, "islands")
    assert not changed


def test_remove_small_regions_rejects_unknown_mode():
    with pytest.raises(ValueError):
        remove_small_regions(np.ones((3, 3), bool), 5, "both")
