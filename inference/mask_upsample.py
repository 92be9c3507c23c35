"""Image-sized binary masks from low-res logits, computing only near mask edges.

The reference post-processing (see `postprocess`) resamples the (256, 256) logits to
the image size with one or two bilinear resizes and keeps logits > 0. Both resizes
are separable and linear, so the whole thing is

    full = A_h @ L @ A_w.T        A_h: (H, 256), A_w: (W, 256)

where every row of A_h and A_w holds a few non-negative weights summing to 1. Each
output pixel is therefore a convex combination of a small window of L: if the
window is all > 0 the pixel is True, if it is all <= 0 the pixel is False, and no
arithmetic is needed. We cut the output into 32 x 32 tiles, look up the min / max of
each tile's low-res window, fill pure tiles with their sign, and evaluate
A_h[tile] @ L[window] @ A_w[tile].T only for tiles a mask edge crosses, as one
batched matmul. For real (blob-like) masks that is a few percent of the tiles.

The operators are built by running the reference resizes on an identity matrix, so
the values computed are the reference values up to float rounding (a pixel whose
logit is within ~1e-5 of zero may flip). Results are column-major (H, W) masks,
what pycocotools' RLE encoder reads without a copy.

Small outputs (under 2 Mpx, e.g. a 1024x768 image) and noise-like masks are
resampled densely (`postprocess.upscale_logits`): there the bookkeeping costs about
what it saves. A 4000x3000 photo with object-like masks is ~3x faster this way.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .postprocess import logits_to_masks, upscale_logits

TILE = 32
# Dense resampling costs ~1 ns per output pixel on a CPU core; below this many
# output pixels per mask the tile bookkeeping does not pay for itself.
SPARSE_MIN_PIXELS = 2_000_000
# Above this fraction of edge tiles (noise-like masks), resample densely instead.
DENSE_FRACTION = 0.3


@dataclass(frozen=True)
class _AxisPlan:
    """One axis of the resampling, cut into tiles of `TILE` output samples.

    starts: (n,) first low-res index of each tile's window; blocks: (n, TILE, span)
    the operator rows of the tile restricted to its window (zero rows past the end).
    """

    starts: torch.Tensor
    blocks: torch.Tensor

    @property
    def span(self) -> int:
        return int(self.blocks.shape[2])


@functools.lru_cache(maxsize=64)
def axis_operator(low: int, padded: int | None, inner: int, out: int) -> torch.Tensor:
    """(out, low) float64 matrix of the reference 1-D resampling of one axis.

    SAM (`padded` = 1024): upsample low -> padded, keep the first `inner` samples,
    resize inner -> out. SAM 2 (`padded` None): resize low -> out.
    """
    impulses = torch.eye(low, dtype=torch.float64)[:, None, :]  # (low, 1, low)
    if padded is None:
        rows = F.interpolate(impulses, size=out, mode="linear", align_corners=False)
    else:
        rows = F.interpolate(impulses, size=padded, mode="linear", align_corners=False)
        rows = rows[..., :inner]
        if inner != out:
            rows = F.interpolate(rows, size=out, mode="linear", align_corners=False)
    return rows[:, 0, :].T.contiguous()


@functools.lru_cache(maxsize=64)
def _axis_plan(low: int, padded: int | None, inner: int, out: int) -> _AxisPlan:
    operator = axis_operator(low, padded, inner, out)
    nonzero = operator != 0
    first = nonzero.to(torch.uint8).argmax(1)
    last = low - 1 - nonzero.flip(1).to(torch.uint8).argmax(1)
    n_tiles = -(-out // TILE)
    lows = [int(first[t * TILE : (t + 1) * TILE].min()) for t in range(n_tiles)]
    highs = [int(last[t * TILE : (t + 1) * TILE].max()) for t in range(n_tiles)]
    span = max(h - lo + 1 for lo, h in zip(lows, highs, strict=True))
    starts = torch.tensor([min(lo, low - span) for lo in lows])
    blocks = torch.zeros(n_tiles, TILE, span, dtype=torch.float32)
    for t in range(n_tiles):
        rows = operator[t * TILE : (t + 1) * TILE, int(starts[t]) : int(starts[t]) + span]
        blocks[t, : rows.shape[0]] = rows.float()
    return _AxisPlan(starts, blocks)


def low_res_to_masks(
    low_res: torch.Tensor,
    original_size: tuple[int, int],
    input_size: tuple[int, int],
    padded_size: int | None,
    sparse_min_pixels: int = SPARSE_MIN_PIXELS,
) -> np.ndarray:
    """(K, h, w) low-res logits -> (K, H, W) bool masks, each column-major.

    `padded_size` is SAM's padded square input side (1024), None for SAM 2.
    Outputs under `sparse_min_pixels` pixels are resampled densely.
    """
    count, low_h, low_w = low_res.shape
    height, width = original_size
    if height * width < sparse_min_pixels:
        return logits_to_masks(upscale_logits(low_res, original_size, input_size, padded_size))
    # Work transposed, (x, y), so the result is C-ordered (K, W, H): column-major masks.
    logits = low_res.float().transpose(1, 2)
    plan_a = _axis_plan(low_w, padded_size, input_size[1], width)  # x axis
    plan_b = _axis_plan(low_h, padded_size, input_size[0], height)  # y axis
    device = logits.device
    starts_a, starts_b = plan_a.starts.to(device), plan_b.starts.to(device)
    # Min and max of each tile's window, one axis at a time.
    index_a = starts_a[:, None] + torch.arange(plan_a.span, device=device)  # (na, Sa)
    index_b = starts_b[:, None] + torch.arange(plan_b.span, device=device)  # (nb, Sb)
    strips = logits[:, index_a]  # (K, na, Sa, h)
    low = strips.amin(2)[..., index_b].amin(-1)  # (K, na, nb)
    high = strips.amax(2)[..., index_b].amax(-1)
    positive = low > 0
    mixed = (high > 0) & ~positive  # tiles a mask edge may cross
    k, ta, tb = mixed.nonzero(as_tuple=True)
    n_a, n_b = positive.shape[1:]
    if k.numel() > DENSE_FRACTION * mixed.numel():
        return logits_to_masks(upscale_logits(low_res, original_size, input_size, padded_size))
    tiles = positive[:, :, None, :, None].expand(count, n_a, TILE, n_b, TILE).contiguous()
    if k.numel():
        rows_a, rows_b = index_a[ta], index_b[tb]  # (M, Sa), (M, Sb)
        windows = logits[k[:, None, None], rows_a[:, :, None], rows_b[:, None, :]]
        blocks_a = plan_a.blocks.to(device)[ta]  # (M, T, Sa)
        blocks_b = plan_b.blocks.to(device)[tb]  # (M, T, Sb)
        values = blocks_a @ windows @ blocks_b.transpose(1, 2)  # (M, T, T)
        tiles[k, ta, :, tb, :] = values > 0
    masks = tiles.view(count, n_a * TILE, n_b * TILE)[:, :width, :height]
    return masks.contiguous().cpu().numpy().transpose(0, 2, 1)
