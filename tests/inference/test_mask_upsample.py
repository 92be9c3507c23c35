"""Edge-only mask upsampling gives the reference masks (transformers' post-processing)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

from inference.mask_upsample import axis_operator, low_res_to_masks
from inference.preprocess import longest_side_shape


def _blobs(count: int, seed: int, features: int = 8) -> torch.Tensor:
    """Object-like logits: smooth, few sign changes (`features` per side)."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(count, 1, features, features, generator=generator)
    return F.interpolate(noise, (256, 256), mode="bicubic", align_corners=False)[:, 0] * 8


def _reference(low_res: torch.Tensor, original: tuple[int, int]) -> np.ndarray:
    input_size = longest_side_shape(*original, 1024)
    full = SamImageProcessorPil().post_process_masks(
        [low_res[None]], [list(original)], [list(input_size)], binarize=False
    )[0][0]
    return (full > 0).numpy()


@pytest.mark.parametrize("original", [(600, 900), (1500, 2000), (333, 4000), (50, 100)])
@pytest.mark.parametrize("features", [4, 8, 64])
def test_sam_masks_match_the_reference(original: tuple[int, int], features: int) -> None:
    low_res = _blobs(3, seed=features, features=features)
    input_size = longest_side_shape(*original, 1024)
    ours = low_res_to_masks(low_res, original, input_size, 1024, sparse_min_pixels=0)
    expected = _reference(low_res, original)
    assert ours.shape == expected.shape and ours.dtype == np.bool_
    # Only pixels whose logit is within rounding of zero may differ.
    assert (ours != expected).mean() < 1e-5
    assert all(mask.flags["F_CONTIGUOUS"] for mask in ours)


def test_sam2_masks_match_one_bilinear_resize() -> None:
    low_res = _blobs(2, seed=5)
    expected = F.interpolate(low_res[None], (1500, 2000), mode="bilinear", align_corners=False)
    ours = low_res_to_masks(low_res, (1500, 2000), (1024, 1024), None, sparse_min_pixels=0)
    assert (ours != (expected[0] > 0).numpy()).mean() < 1e-5


def test_uniform_logits_need_no_arithmetic() -> None:
    low_res = torch.stack([torch.full((256, 256), 3.0), torch.full((256, 256), -3.0)])
    masks = low_res_to_masks(low_res, (1200, 1700), (723, 1024), 1024, sparse_min_pixels=0)
    assert masks[0].all() and not masks[1].any()


def test_axis_operators_are_convex_combinations() -> None:
    # The sign shortcut relies on non-negative weights that sum to one.
    for args in [(256, 1024, 683, 600), (256, 1024, 1024, 3000), (256, None, 1024, 77)]:
        operator = axis_operator(*args)
        assert operator.shape == (args[3], 256)
        assert (operator >= 0).all()
        torch.testing.assert_close(operator.sum(1), torch.ones(args[3], dtype=torch.float64))
