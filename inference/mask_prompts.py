"""A mask prompt from a finished mask: an image-sized binary mask (a SAM 3 instance,
say) as the (1, 256, 256) low-res logits SAM and SAM 2 take back as `mask_logits`.

SAM only ever sees masks it predicted itself, as logits over its low-res grid: cell
(i, j) of that grid is the model input's 4x4 pixel block at (4i, 4j) (the padded
1024-square for SAM, the stretched 1024-square for SAM 2), and its candidates are
upsampled back from the cell centres (`mask_upsample`). The inverse used here: each
cell's logit comes from the fraction f of its area the mask covers, in original
image pixels, as 20 f - 10. A full cell is +10, an empty one -10 (the scale SAM 2's
own predictor gives a binary mask it is handed), and an edge cell lies between, so
upsampling the prompt like a candidate gives the mask back (its edges within a
cell). Cells of SAM's zero padding cover no image pixel: -10.

The averaging is separable, A_y @ M @ A_x.T with (256, H) and (256, W) operators
of box overlaps, and only the mask's bounding box is read, a tile at a time, so a
large image never needs a float copy of its whole mask (nor a (256, W) operator).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import PromptError
from .masks import MaskFormatError, rle_area_bbox, rle_decode
from .prompts import LOW_RES_SIZE

LOGIT_SCALE = 10.0
"""Logit of a cell the mask fills (and minus that of one it misses)."""

BAND_PIXELS = 1 << 22
"""Mask pixels turned into floats at once (16 MB of float32)."""

TILE_SIDE = 4096
"""Widest run of columns read at once: an operator is (256, this) at most (8 MB)."""


def check_mask_prompt(rle: Any, height: int, width: int) -> int:
    """Raise `PromptError` unless `rle` is a valid, non-empty COCO RLE of a height x
    width image; returns its area. Reads the runs without drawing the mask."""
    try:
        area, _ = rle_area_bbox(rle)
    except MaskFormatError as error:
        raise PromptError(f"the mask prompt is not valid COCO RLE: {error}") from None
    size = tuple(int(v) for v in rle["size"])
    if size != (height, width):
        raise PromptError(
            f"the mask prompt is {size[1]}x{size[0]} but the image is {width}x{height}"
        )
    if not area:
        raise PromptError("the mask prompt is empty (0 pixels)")
    return area


def cell_operator(
    start: int, stop: int, original: int, inner: int, image_size: int, cells: int
) -> np.ndarray:
    """(cells, stop - start) float64: how much of each low-res cell each original
    pixel start..stop-1 of one axis covers, as a fraction of the cell.

    `original` pixels are resized to `inner` model-input pixels; the `cells` cells
    split the `image_size` input side evenly (SAM: 256 cells of 4 over 1024, the
    image in the first `inner`, padding after).
    """
    per_cell = image_size / cells * original / inner  # original pixels per cell
    lows = np.arange(cells, dtype=np.float64)[:, None] * per_cell
    pixels = np.arange(start, stop, dtype=np.float64)[None, :]
    overlap = np.minimum(pixels + 1, lows + per_cell) - np.maximum(pixels, lows)
    return np.clip(overlap, 0.0, None) / per_cell


def mask_prompt_logits(
    mask: Any,
    input_size: tuple[int, int],
    image_size: int = 1024,
    low_res_size: int = LOW_RES_SIZE,
) -> np.ndarray:
    """A (H, W) bool mask or a COCO RLE of one -> (1, low, low) float32 mask logits.

    `input_size` is the (h, w) the image was resized to for the encoder (the
    embedding's `input_size`); `image_size` the model's square input side.
    """
    if isinstance(mask, dict):
        try:
            mask = rle_decode(mask)
        except MaskFormatError as error:
            raise PromptError(f"the mask prompt is not valid COCO RLE: {error}") from None
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != np.bool_:
        raise PromptError(
            f"a mask prompt must be a 2-D boolean mask, got {mask.dtype} {mask.shape}"
        )
    height, width = mask.shape
    covered = np.zeros((low_res_size, low_res_size), np.float64)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size:
        cols = np.flatnonzero(mask.any(axis=0))
        y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        step_x = min(x1 - x0, TILE_SIDE)
        step_y = max(1, BAND_PIXELS // step_x)
        for left in range(x0, x1, step_x):
            right = min(x1, left + step_x)
            op_x = cell_operator(left, right, width, input_size[1], image_size, low_res_size)
            op_x_t = op_x.T.astype(np.float32)
            for top in range(y0, y1, step_y):
                bottom = min(y1, top + step_y)
                op_y = cell_operator(top, bottom, height, input_size[0], image_size, low_res_size)
                part = mask[top:bottom, left:right].astype(np.float32)
                covered += op_y @ (part @ op_x_t).astype(np.float64)
    logits = LOGIT_SCALE * (2.0 * np.clip(covered, 0.0, 1.0) - 1.0)
    return logits.astype(np.float32)[None]
