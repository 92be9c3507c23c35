"""Stability score of mask logits, as defined in the Segment Anything paper.

A mask is stable when thresholding its logits a little higher or lower barely
changes it: the score is the IoU of the mask thresholded at ``threshold + offset``
with the mask thresholded at ``threshold - offset``. The higher-threshold mask is a
subset of the other one, so the IoU is simply count(high) / count(low).
"""

from __future__ import annotations

import torch


def stability_score(logits: torch.Tensor, threshold: float, offset: float) -> torch.Tensor:
    """logits (..., H, W) -> stability score (...,) float32; 0 where both masks are empty.

    Memory: only one bool tensor of the logits' size exists at a time, and the pixel
    counts are reduced row by row in a narrow integer type before the final sum,
    as SAM does to keep large batches (e.g. (B, 3, 256, 256)) cheap.
    """
    if logits.ndim < 2:
        raise ValueError(f"logits must have at least 2 dims (..., H, W), got {logits.ndim}.")
    offset = abs(offset)  # IoU is symmetric; a negative offset means the same thing
    high = _count_above(logits, threshold + offset)
    low = _count_above(logits, threshold - offset)
    return torch.where(low > 0, high.float() / low.clamp(min=1).float(), 0.0)


def _count_above(logits: torch.Tensor, value: float) -> torch.Tensor:
    height, width = logits.shape[-2:]
    row_dtype = torch.int16 if width <= torch.iinfo(torch.int16).max else torch.int32
    total_dtype = torch.int32 if height * width <= torch.iinfo(torch.int32).max else torch.int64
    return (logits > value).sum(-1, dtype=row_dtype).sum(-1, dtype=total_dtype)
