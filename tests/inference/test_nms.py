"""box_iou and box_nms against plain-Python references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inference.nms import box_iou, box_nms


def ref_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = lambda r: max(0.0, r[2] - r[0]) * max(0.0, r[3] - r[1])  # noqa: E731
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def ref_nms(boxes: list, scores: list, threshold: float) -> list[int]:
    order = sorted(range(len(boxes)), key=lambda i: -scores[i])  # stable on ties
    keep: list[int] = []
    for i in order:
        if all(ref_iou(boxes[i], boxes[k]) <= threshold for k in keep):
            keep.append(i)
    return keep


def random_boxes(rng, n, size=100.0):
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(1, size / 2, (n, 2))
    return torch.tensor(np.hstack([xy, xy + wh]), dtype=torch.float32)


def test_box_iou_matches_reference():
    rng = np.random.default_rng(0)
    a, b = random_boxes(rng, 13), random_boxes(rng, 7)
    got = box_iou(a, b)
    assert got.shape == (13, 7)
    expected = [[ref_iou(x, y) for y in b.tolist()] for x in a.tolist()]
    assert torch.allclose(got, torch.tensor(expected), atol=1e-6)


def test_box_iou_of_hand_computed_boxes():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0], [5.0, 5.0, 6.0, 6.0]])
    assert torch.allclose(box_iou(a, b), torch.tensor([[1 / 7, 1.0, 0.0]]))


def test_degenerate_boxes_have_zero_iou_not_nan():
    a = torch.tensor([[1.0, 1.0, 1.0, 1.0], [3.0, 3.0, 2.0, 2.0]])
    got = box_iou(a, a)
    assert not got.isnan().any()
    assert (got == 0).all()


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.7, 0.95])
@pytest.mark.parametrize("n", [1, 2, 10, 200])
def test_nms_matches_brute_force(n, threshold):
    rng = np.random.default_rng(n)
    boxes = random_boxes(rng, n)
    scores = torch.tensor(rng.random(n), dtype=torch.float32)
    kept = box_nms(boxes, scores, threshold)
    assert kept.dtype == torch.int64
    assert kept.tolist() == ref_nms(boxes.tolist(), scores.tolist(), threshold)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(1, 10), st.integers(1, 10)),
        max_size=25,
    ),
    st.data(),
    st.sampled_from([0.1, 0.5, 0.8]),
)
def test_nms_matches_brute_force_with_ties(raw, data, threshold):
    # Small integer grids make identical boxes, touching boxes and equal scores common.
    boxes = [[float(x), float(y), float(x + w), float(y + h)] for x, y, w, h in raw]
    scores = [float(data.draw(st.integers(0, 3))) for _ in boxes]
    kept = box_nms(
        torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        torch.tensor(scores, dtype=torch.float32),
        threshold,
    )
    assert kept.tolist() == ref_nms(boxes, scores, threshold)


def test_kept_boxes_are_sorted_by_score():
    boxes = torch.tensor([[0, 0, 1, 1], [10, 10, 11, 11], [20, 20, 21, 21]], dtype=torch.float32)
    kept = box_nms(boxes, torch.tensor([0.2, 0.9, 0.5]), 0.5)
    assert kept.tolist() == [1, 2, 0]


def test_duplicates_collapse_to_the_best_one():
    boxes = torch.tensor([[0, 0, 10, 10]] * 5, dtype=torch.float32)
    kept = box_nms(boxes, torch.tensor([0.1, 0.4, 0.9, 0.3, 0.2]), 0.5)
    assert kept.tolist() == [2]


def test_threshold_is_exclusive():
    boxes = torch.tensor([[0, 0, 2, 1], [1, 0, 3, 1]], dtype=torch.float32)  # IoU 1/3
    assert box_nms(boxes, torch.tensor([1.0, 0.5]), 1 / 3 + 1e-6).tolist() == [0, 1]
    assert box_nms(boxes, torch.tensor([1.0, 0.5]), 0.3).tolist() == [0]


def test_no_boxes():
    kept = box_nms(torch.zeros((0, 4)), torch.zeros(0), 0.5)
    assert kept.shape == (0,)
    assert kept.dtype == torch.int64


@pytest.mark.parametrize(
    ("boxes", "scores"),
    [
        (torch.zeros((3, 5)), torch.zeros(3)),
        (torch.zeros(4), torch.zeros(1)),
        (torch.zeros((3, 4)), torch.zeros(2)),
        (torch.zeros((3, 4)), torch.zeros((3, 1))),
    ],
)
def test_it_rejects_mismatched_shapes(boxes, scores):
    with pytest.raises(ValueError):
        box_nms(boxes, scores, 0.5)
