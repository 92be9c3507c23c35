"""stability_score: IoU of the masks at threshold +/- offset."""

from __future__ import annotations

import pytest
import torch

from inference.stability import stability_score


def test_hand_computed_score():
    logits = torch.tensor([[2.0, 0.5], [-0.5, -2.0]])
    # > 1: one pixel (2.0); > -1: three pixels (2.0, 0.5, -0.5)
    assert stability_score(logits, 0.0, 1.0).item() == pytest.approx(1 / 3)
    # > 0.75 and > -0.25: one and two pixels
    assert stability_score(logits, 0.25, 0.5).item() == pytest.approx(1 / 2)


def test_a_crisp_mask_is_perfectly_stable():
    logits = torch.full((8, 8), -10.0)
    logits[2:5, 2:6] = 10.0
    assert stability_score(logits, 0.0, 1.0).item() == 1.0


def test_an_empty_mask_scores_zero_not_nan():
    logits = torch.full((4, 4), -5.0)
    score = stability_score(logits, 0.0, 1.0)
    assert score.item() == 0.0


def test_thresholds_are_strict():
    logits = torch.tensor([[1.0, -1.0], [0.0, 0.0]])
    # > 1: nothing; > -1: the 1.0 and the two zeros
    assert stability_score(logits, 0.0, 1.0).item() == 0.0


def test_negative_offset_means_the_same_band():
    logits = torch.randn(3, 16, 16)
    assert torch.equal(stability_score(logits, 0.1, -0.7), stability_score(logits, 0.1, 0.7))


def test_batch_shape_and_per_mask_values():
    logits = torch.full((2, 3, 256, 256), -10.0)
    logits[0, 0, :128] = 10.0  # crisp: 1.0
    logits[1, 2, :64] = 10.0
    logits[1, 2, 64:128] = 0.5  # soft band: 64 rows of 128 survive +1, all survive -1
    score = stability_score(logits, 0.0, 1.0)
    assert score.shape == (2, 3)
    assert score.dtype == torch.float32
    expected = torch.zeros(2, 3)
    expected[0, 0] = 1.0
    expected[1, 2] = 0.5
    assert torch.allclose(score, expected)


def test_wide_masks_count_correctly():
    # 40000 columns would overflow a 16-bit row count.
    logits = torch.full((1, 40000), 5.0)
    logits[0, 35000:] = 0.5
    assert stability_score(logits, 0.0, 1.0).item() == pytest.approx(35000 / 40000)


def test_matches_a_direct_iou():
    torch.manual_seed(0)
    logits = torch.randn(4, 3, 32, 48) * 3
    hi, lo = logits > 1.5, logits > -0.5
    expected = (hi & lo).sum((-1, -2)) / (hi | lo).sum((-1, -2))
    assert torch.allclose(stability_score(logits, 0.5, 1.0), expected.float())


def test_it_rejects_tensors_without_spatial_dims():
    with pytest.raises(ValueError):
        stability_score(torch.zeros(5), 0.0, 1.0)
