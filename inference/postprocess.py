"""Low-resolution logits back to image-sized masks.

SAM and SAM 2 predict (256, 256) logits over the model input. The reference
post-processing (segment-anything's `postprocess_masks`, transformers'
`post_process_masks`) is, for SAM: bilinear upsample to the padded 1024x1024 input,
crop the padding away, bilinear resize to the original image size; for SAM 2: one
bilinear resize to the original size. A mask is the logits > 0.

We compute exactly the same numbers with less work:

* Only the low-res rows and columns that cover the un-padded input are upsampled.
  Upsampling by an integer factor samples each output pixel from at most the two
  nearest inputs, so cropping the input first, one cell beyond the last needed
  sample, gives bit-identical values.
* When the original image already has the input size (its long side is 1024), the
  final resize is the identity and is skipped.
* Everything runs on transposed (W, H) tensors, so each returned (H, W) mask is a
  column-major view: what pycocotools' RLE encoder wants, with no copy.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def upscale_logits(
    low_res: torch.Tensor,
    original_size: tuple[int, int],
    input_size: tuple[int, int],
    padded_size: int | None,
) -> torch.Tensor:
    """Upsample (K, h, w) low-res logits to (K, H, W) float32 at the original size.

    `padded_size` is SAM's square padded input side (1024); None for SAM 2, whose
    input is the whole (resized) image. The result is a transposed view of a
    (K, W, H) tensor (possibly a crop of a larger one), so its planes are
    column-major.
    """
    logits = low_res.float().transpose(-1, -2)  # (K, w, h): work in transposed space
    height, width = original_size
    if padded_size is None:
        out = F.interpolate(logits[None], (width, height), mode="bilinear", align_corners=False)
        return out[0].transpose(-1, -2)

    low = logits.shape[-1]
    factor = padded_size // low
    if factor * low != padded_size:
        raise ValueError(f"padded size {padded_size} is not a multiple of {low}")
    in_h, in_w = input_size
    # +1 cell: the last needed output sample interpolates towards the next input cell.
    keep_h = min(low, math.ceil(in_h / factor) + 1)
    keep_w = min(low, math.ceil(in_w / factor) + 1)
    cropped = logits[:, :keep_w, :keep_h]
    up = F.interpolate(
        cropped[None], (keep_w * factor, keep_h * factor), mode="bilinear", align_corners=False
    )[0, :, :in_w, :in_h]
    if (in_h, in_w) != (height, width):
        up = F.interpolate(up[None], (width, height), mode="bilinear", align_corners=False)[0]
    # `up` may be a cropped view; thresholding writes a dense copy anyway.
    return up.transpose(-1, -2)


def logits_to_masks(logits: torch.Tensor, threshold: float = 0.0) -> np.ndarray:
    """(K, H, W) logits -> (K, H, W) bool numpy array whose masks are column-major."""
    binary = (logits.transpose(-1, -2) > threshold).contiguous()  # (K, W, H) C-order
    # (> allocates a dense result even for a cropped view; contiguous() is then free.)
    return binary.cpu().numpy().transpose(0, 2, 1)
