"""Automatic mask generation on the tiny random models.

Random weights make meaningless masks, so these tests check the pipeline's
contract (filters, NMS, clean-up, consistency of every field), not mask quality.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from inference import FilterCounts, find_automatic_masks, generate_automatic_masks
from inference.automatic import AutoMask, point_grid
from inference.embedding import Embedding
from inference.masks import rle_decode
from inference.model import SegmentationModel
from inference.nms import box_iou

PERMISSIVE: dict[str, Any] = {"pred_iou_thresh": -100.0, "stability_score_thresh": -1.0}


def _xyxy(masks: list[AutoMask]) -> torch.Tensor:
    return torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (m.bbox for m in masks)])


def test_the_point_grid_covers_cell_centres() -> None:
    grid = point_grid(4, 600, 900)
    assert grid.shape == (16, 2)
    assert sorted(set(grid[:, 0].tolist())) == [112.5, 337.5, 562.5, 787.5]
    assert sorted(set(grid[:, 1].tolist())) == [75.0, 225.0, 375.0, 525.0]


def test_every_field_describes_its_mask(model: SegmentationModel, embedding: Embedding) -> None:
    masks = generate_automatic_masks(
        model, embedding, points_per_side=3, box_nms_thresh=1.0, min_region_area=50, **PERMISSIVE
    )
    assert len(masks) > 1
    assert [m.score for m in masks] == sorted((m.score for m in masks), reverse=True)
    for m in masks:
        assert m.mask.shape == (600, 900) and m.mask.dtype == np.bool_
        assert m.area == int(m.mask.sum()) >= 50
        rows, cols = np.nonzero(m.mask)
        x, y = cols.min(), rows.min()
        assert m.bbox == [x, y, cols.max() - x + 1, rows.max() - y + 1]
        assert np.array_equal(rle_decode(m.rle), m.mask)
        assert 0 <= m.point[0] <= 900 and 0 <= m.point[1] <= 600


def test_nms_removes_overlapping_duplicates(model: SegmentationModel, embedding: Embedding) -> None:
    everything = generate_automatic_masks(
        model, embedding, points_per_side=3, box_nms_thresh=1.0, min_region_area=0, **PERMISSIVE
    )
    kept = generate_automatic_masks(
        model, embedding, points_per_side=3, box_nms_thresh=0.5, min_region_area=0, **PERMISSIVE
    )
    assert 0 < len(kept) < len(everything)
    overlaps = box_iou(_xyxy(kept), _xyxy(kept)).fill_diagonal_(0)
    assert overlaps.max() <= 0.5


def test_thresholds_filter_candidates(model: SegmentationModel, embedding: Embedding) -> None:
    none = generate_automatic_masks(
        model, embedding, points_per_side=2, pred_iou_thresh=100.0, stability_score_thresh=0.0
    )
    assert none == []
    stable = generate_automatic_masks(
        model,
        embedding,
        points_per_side=4,
        pred_iou_thresh=-100.0,
        stability_score_thresh=0.5,
        box_nms_thresh=1.0,
        min_region_area=0,
    )
    assert all(m.stability > 0.5 for m in stable)


def test_small_regions_are_cleaned(model: SegmentationModel, embedding: Embedding) -> None:
    # With a huge minimum area every surviving mask is one big connected region
    # without holes smaller than that area.
    masks = generate_automatic_masks(
        model, embedding, points_per_side=3, min_region_area=20_000, **PERMISSIVE
    )
    assert all(m.area >= 20_000 for m in masks)


def test_progress_is_reported_per_batch(model: SegmentationModel, embedding: Embedding) -> None:
    calls: list[tuple[int, int]] = []
    generate_automatic_masks(
        model,
        embedding,
        points_per_side=3,
        points_per_batch=4,
        on_progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(4, 9), (8, 9), (9, 9)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"points_per_side": 0}, "points_per_side"),
        ({"points_per_batch": 0}, "points_per_batch"),
        ({"box_nms_thresh": 1.5}, "box_nms_thresh"),
    ],
)
def test_it_rejects_bad_settings(
    sam_model: SegmentationModel, sam_embedding: Embedding, kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        generate_automatic_masks(sam_model, sam_embedding, **kwargs)


def _accounted(counts: FilterCounts) -> int:
    return (
        counts.below_iou
        + counts.unstable
        + counts.empty
        + counts.duplicates
        + counts.too_small
        + counts.kept
    )


def test_the_counts_say_which_filter_removed_each_candidate(
    model: SegmentationModel, embedding: Embedding
) -> None:
    # 2 x 2 clicks, 3 masks each: every candidate is either kept or removed by one stage.
    strict_iou = find_automatic_masks(
        model, embedding, points_per_side=2, pred_iou_thresh=100.0, stability_score_thresh=0.0
    )
    assert strict_iou.masks == [] and strict_iou.counts.candidates == 12
    assert strict_iou.counts.below_iou == 12 and _accounted(strict_iou.counts) == 12

    strict_stability = find_automatic_masks(
        model, embedding, points_per_side=2, pred_iou_thresh=-100.0, stability_score_thresh=1.0
    )
    assert strict_stability.masks == []
    assert strict_stability.counts.unstable == 12 and strict_stability.counts.below_iou == 0

    huge_area = find_automatic_masks(
        model, embedding, points_per_side=2, min_region_area=10_000_000, **PERMISSIVE
    )
    assert huge_area.masks == [] and huge_area.counts.too_small > 0
    assert _accounted(huge_area.counts) == 12

    loose = find_automatic_masks(
        model, embedding, points_per_side=3, box_nms_thresh=0.5, min_region_area=0, **PERMISSIVE
    )
    assert loose.counts.kept == len(loose.masks) > 0 and loose.counts.duplicates > 0
    assert _accounted(loose.counts) == loose.counts.candidates == 27
    assert (loose.counts.pred_iou_thresh, loose.counts.min_region_area) == (-100.0, 0)
