"""Post-processing parity: our upsampling against transformers' `post_process_masks`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

from inference.postprocess import logits_to_masks, upscale_logits
from inference.preprocess import longest_side_shape


def _low_res(count: int, seed: int = 0) -> torch.Tensor:
    """Smooth random logits crossing zero often, like real mask logits."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(count, 1, 32, 32, generator=generator)
    return F.interpolate(noise, (256, 256), mode="bicubic", align_corners=False)[:, 0] * 8


@pytest.mark.parametrize(
    "original_size", [(768, 1024), (600, 900), (1500, 2000), (50, 100), (901, 300)]
)
def test_sam_upscaling_matches_transformers(original_size: tuple[int, int]) -> None:
    low_res = _low_res(3)
    input_size = longest_side_shape(*original_size, 1024)
    reference = SamImageProcessorPil().post_process_masks(
        [low_res[None]], [list(original_size)], [list(input_size)], binarize=False
    )[0][0]
    ours = upscale_logits(low_res, original_size, input_size, padded_size=1024)
    assert ours.shape == (3, *original_size)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=0)
    masks = logits_to_masks(ours)
    assert masks.dtype == np.bool_ and masks.shape == (3, *original_size)
    assert (masks == (reference > 0).numpy()).mean() > 0.99999


def test_sam_upscaling_without_resize_differs_only_by_rounding() -> None:
    # A 1024x768 image: crop-then-upsample samples exactly the reference positions;
    # only the transposed (column-major) evaluation order may change the last bit.
    low_res = _low_res(3, seed=1)
    reference = SamImageProcessorPil().post_process_masks(
        [low_res[None]], [[768, 1024]], [[768, 1024]], binarize=False
    )[0][0]
    ours = upscale_logits(low_res, (768, 1024), (768, 1024), padded_size=1024)
    assert (ours - reference).abs().max() < 1e-5
    assert (logits_to_masks(ours) == (reference > 0).numpy()).all()


@pytest.mark.parametrize("original_size", [(1024, 1024), (600, 900), (2000, 1500)])
def test_sam2_upscaling_is_one_bilinear_resize(original_size: tuple[int, int]) -> None:
    low_res = _low_res(2, seed=2)
    expected = F.interpolate(low_res[None], original_size, mode="bilinear", align_corners=False)
    ours = upscale_logits(low_res, original_size, (1024, 1024), padded_size=None)
    torch.testing.assert_close(ours, expected[0], atol=1e-5, rtol=0)


def test_masks_are_column_major_for_rle() -> None:
    masks = logits_to_masks(upscale_logits(_low_res(2), (600, 900), (683, 1024), 1024))
    for mask in masks:
        assert mask.shape == (600, 900)
        assert mask.flags["F_CONTIGUOUS"]


def test_it_rejects_a_padding_that_is_not_a_multiple_of_the_logits() -> None:
    with pytest.raises(ValueError, match="multiple"):
        upscale_logits(_low_res(1), (600, 900), (683, 1024), padded_size=1000)
