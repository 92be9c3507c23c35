"""What the category classifier sees of a mask: the image embedding under it, and its shape.

SAM's masks carry no class, but its image embedding (C x G x G, 256 x 64 x 64 for
every SAM and SAM 2 model) describes what is where. A mask's features are the
embedding averaged under the mask on that grid, plus a few shape statistics.

Everything is worked out on the decoder's low-res frame (4G x 4G, 256 x 256): the
model's padded input square (16G pixels a side) at 4 pixels a cell. A candidate's
low-res logits already are that frame, so a click's features cost a threshold, a
4 x 4 pooling and one (C, G*G) @ (G*G,) product. A stored mask (full image size) is
mapped into the same frame through the resize the encoder saw (`Embedding.input_size`:
SAM scales the longest side and pads bottom and right, SAM 2 stretches to the square),
so training masks and clicked candidates are described alike.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .masks import rle_decode

if TYPE_CHECKING:
    from .embedding import Embedding

PATCH = 16  # input pixels per embedding cell (every SAM and SAM 2 model)
LOW_RES_FACTOR = 4  # low-res cells per embedding cell, each way
SHAPE_NAMES = ("log_area", "log_aspect", "fill", "log_compactness", "centre_y", "centre_x")
_GRID_KEY = "category_features.grid"  # the embedding's float32 (C, G*G) copy, kept on it


def feature_count(channels: int) -> int:
    return channels + len(SHAPE_NAMES)


def embedding_grid(embedding: Embedding) -> np.ndarray:
    """(C, G*G) float32 of the image embedding, made once per embedding and kept on it
    (stored embeddings are float16 tensors: converting per click would cost ~1 ms)."""
    grid = embedding.prepared.get(_GRID_KEY)
    if grid is None:
        tensor = embedding.tensors["image_embeddings"][0]
        grid = tensor.detach().to("cpu").float().reshape(tensor.shape[0], -1).numpy()
        embedding.prepared[_GRID_KEY] = grid
    return grid


def valid_cells(embedding: Embedding, side: int) -> tuple[int, int]:
    """Rows and columns of a `side`-cell frame that hold image (the rest is padding)."""
    frame = side_of(embedding) * PATCH
    height, width = embedding.input_size
    return max(1, math.ceil(height * side / frame)), max(1, math.ceil(width * side / frame))


def side_of(embedding: Embedding) -> int:
    return int(embedding.tensors["image_embeddings"].shape[-1])


def cover_from_logits(embedding: Embedding, low_res_logits: np.ndarray) -> np.ndarray:
    """(4G, 4G) float32 0/1 of a candidate's low-res logits (1, 4G, 4G), padding zeroed."""
    logits = np.asarray(low_res_logits).reshape(low_res_logits.shape[-2:])
    cover = (logits > 0).astype(np.float32)
    rows, cols = valid_cells(embedding, cover.shape[0])
    cover[rows:, :] = 0
    cover[:, cols:] = 0
    return cover


def _cells(pixels: int, cells: int) -> np.ndarray:
    """The cell each pixel (by its centre) falls in, for `pixels` spread over `cells`."""
    index = ((np.arange(pixels) + 0.5) * (cells / pixels)).astype(np.int64)
    return np.minimum(index, cells - 1)


def _sum_by(
    values: np.ndarray, cells: np.ndarray, count: int, axis: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sum `values` along `axis` into `count` cells (`cells`: ascending, per pixel),
    and how many pixels each cell got. A cell no pixel falls in (an image smaller
    than the frame) copies its neighbour."""
    starts = np.flatnonzero(np.r_[True, np.diff(cells) > 0])
    sums = np.add.reduceat(values, starts, axis=axis, dtype=np.float64)
    hit = cells[starts]
    nearest = np.clip(np.searchsorted(hit, np.arange(count), side="right") - 1, 0, len(hit) - 1)
    return np.take(sums, nearest, axis=axis), np.bincount(cells, minlength=count)[hit][nearest]


def cover_from_mask(embedding: Embedding, mask: np.ndarray) -> np.ndarray:
    """(4G, 4G) float32: the share of each low-res cell a full-size (H, W) mask covers."""
    side = side_of(embedding) * LOW_RES_FACTOR
    rows, cols = valid_cells(embedding, side)
    height, width = mask.shape
    by_row, row_counts = _sum_by(mask, _cells(height, rows), rows, axis=0)
    by_cell, col_counts = _sum_by(by_row, _cells(width, cols), cols, axis=1)
    cover = np.zeros((side, side), np.float32)
    cover[:rows, :cols] = by_cell / np.outer(row_counts, col_counts)
    return cover


def shape_statistics(cover: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The SHAPE_NAMES figures of a low-res cover (values 0..1) on its valid region.
    Worked out on the mask's bounding box only: a click's small mask costs little."""
    region = cover[:rows, :cols]
    solid = region >= 0.5
    if not solid.any():
        solid = region > 0
    filled_rows, filled_cols = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    if not filled_rows.size:
        return np.zeros(len(SHAPE_NAMES), np.float32)
    y0, x0 = int(filled_rows[0]), int(filled_cols[0])
    crop = solid[y0 : int(filled_rows[-1]) + 1, x0 : int(filled_cols[-1]) + 1]
    box_h, box_w = crop.shape
    per_row, per_col = crop.sum(axis=1), crop.sum(axis=0)
    cells = float(per_row.sum())
    padded = np.pad(crop, 1)
    edges = np.count_nonzero(padded[1:] != padded[:-1]) + np.count_nonzero(
        padded[:, 1:] != padded[:, :-1]
    )
    centre_y = float(per_row @ np.arange(box_h)) / cells + y0
    centre_x = float(per_col @ np.arange(box_w)) / cells + x0
    return np.array(
        [
            math.log(max(float(region.sum()), 1e-3) / (rows * cols)),
            math.log(box_w / box_h),
            cells / (box_h * box_w),
            math.log(edges * edges / (4 * math.pi * cells)),
            (centre_y + 0.5) / rows,
            (centre_x + 0.5) / cols,
        ],
        np.float32,
    )


def features_of(embedding: Embedding, covers: list[np.ndarray]) -> np.ndarray:
    """(N, C + 6) float32: for each low-res cover, the embedding averaged under it on
    the grid (zeros for an empty one), then its shape statistics. One product for all
    of a click's candidates."""
    grid = embedding_grid(embedding)
    side = side_of(embedding)
    stacked = np.stack(covers)
    factor = stacked.shape[1] // side
    weights = stacked.reshape(len(covers), side, factor, side, factor).sum(axis=(2, 4))
    weights = weights.reshape(len(covers), -1)
    totals = weights.sum(axis=1, keepdims=True)
    weights = (weights / np.maximum(totals, 1e-12)).astype(np.float32)
    # einsum, not `@`: BLAS would spread this product of a few million multiplies over
    # its threads, which on a busy server measured ~20 ms of waiting for 0.2 ms of work.
    pooled = np.einsum("cn,kn->kc", grid, weights)
    rows, cols = valid_cells(embedding, stacked.shape[1])
    shapes = np.stack([shape_statistics(cover, rows, cols) for cover in covers])
    return np.concatenate([pooled, shapes], axis=1).astype(np.float32)


def features(embedding: Embedding, cover: np.ndarray) -> np.ndarray:
    """(C + 6,) float32 features of one low-res cover (`features_of` for several)."""
    return features_of(embedding, [cover])[0]


def candidate_features(embedding: Embedding, low_res_logits: np.ndarray) -> np.ndarray:
    """Features of a decoded candidate, from its low-res logits (the click path)."""
    return features(embedding, cover_from_logits(embedding, low_res_logits))


def candidates_features(embedding: Embedding, logits: list[np.ndarray]) -> np.ndarray:
    """(N, C + 6) features of a click's candidates, from their low-res logits."""
    return features_of(embedding, [cover_from_logits(embedding, one) for one in logits])


def mask_features(embedding: Embedding, mask: np.ndarray) -> np.ndarray:
    """Features of a full-size (H, W) mask of the embedded image (training, proposals)."""
    if mask.shape != tuple(embedding.original_size):
        raise ValueError(f"mask is {mask.shape}, the image {tuple(embedding.original_size)}")
    return features(embedding, cover_from_mask(embedding, mask))


def rle_features(embedding: Embedding, rle: dict) -> np.ndarray:
    return mask_features(embedding, rle_decode(rle))
