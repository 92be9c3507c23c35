"""Automatic mask generation ("segment everything"), after SAM's generator.

A regular grid of single positive clicks (32 x 32 by default) is decoded in
batches; each click yields 3 candidate masks. A candidate survives if

1. its predicted IoU exceeds `pred_iou_thresh`, and
2. its stability score (IoU of the mask thresholded at +-`stability_score_offset`,
   on the image-sized logits) exceeds `stability_score_thresh`;

survivors are compressed to RLE at once, so memory stays bounded by one batch.
Duplicates are then removed by box NMS, each mask loses holes and islands smaller
than `min_region_area` (a mask that changed is preferred less in a second NMS, as
SAM does), and masks still smaller than that are dropped.

Differences from SAM's `SamAutomaticMaskGenerator`: no multi-crop layers, and
thresholds default per family (SAM 0.88, SAM 2 0.8 for predicted IoU, as each
project ships). Decoding goes through `SegmentationModel.decode_points_batch`, the
same fast decoder the interactive path uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .embedding import Embedding
from .masks import (
    mask_area,
    mask_bbox,
    remove_small_regions,
    rle_area,
    rle_bbox,
    rle_decode,
    rle_encode,
)
from .model import SegmentationModel
from .nms import box_nms
from .postprocess import logits_to_masks
from .stability import stability_score

DEFAULT_PRED_IOU_THRESH = {"sam": 0.88, "sam2": 0.8}
UPSCALE_BUDGET_PIXELS = 50_000_000  # image-sized logits held at once (200 MB float32)


@dataclass(frozen=True, eq=False)
class AutoMask:
    """One mask found by `generate_automatic_masks`.

    rle: COCO compressed RLE of the mask; score: predicted IoU; stability: stability
    score; bbox: [x, y, w, h] in pixels (COCO); area: pixel count; point: the (x, y)
    grid click that produced it. `mask` decodes the RLE on access, so a few hundred
    masks of a large photo stay small.
    """

    rle: dict
    score: float
    stability: float
    bbox: list[float]
    area: int
    point: tuple[float, float]

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool."""
        return rle_decode(self.rle)


@dataclass
class FilterCounts:
    """How many candidates each stage removed, so a run that keeps nothing can say why.

    candidates: masks decoded (3 per click); below_iou: removed by predicted IoU;
    unstable: by stability score; empty: masks with no pixel; duplicates: by box NMS
    (both passes); too_small: by the minimum area after clean-up; kept: what is left.
    The thresholds used are kept beside them, for the message.
    """

    pred_iou_thresh: float
    stability_score_thresh: float
    min_region_area: int
    candidates: int = 0
    below_iou: int = 0
    unstable: int = 0
    empty: int = 0
    duplicates: int = 0
    too_small: int = 0
    kept: int = 0


@dataclass(frozen=True)
class AutoMaskRun:
    """What `find_automatic_masks` returns: the masks and what each filter removed."""

    masks: list[AutoMask]
    counts: FilterCounts


@dataclass
class _Found:
    rle: dict
    box: list[float]  # x0, y0, x1, y1 (pixel edges)
    score: float
    stability: float
    point: tuple[float, float]


def point_grid(points_per_side: int, height: int, width: int) -> np.ndarray:
    """(n*n, 2) x, y click positions: cell centres of an n x n grid over the image."""
    centres = (np.arange(points_per_side, dtype=np.float64) + 0.5) / points_per_side
    xs, ys = np.meshgrid(centres * width, centres * height)
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def generate_automatic_masks(
    model: SegmentationModel, embedding: Embedding, **options: Any
) -> list[AutoMask]:
    """Every object mask the model finds in the image, best predicted IoU first (the
    masks of `find_automatic_masks`, which takes the same options)."""
    return find_automatic_masks(model, embedding, **options).masks


def find_automatic_masks(
    model: SegmentationModel,
    embedding: Embedding,
    *,
    points_per_side: int = 32,
    points_per_batch: int = 16,
    pred_iou_thresh: float | None = None,
    stability_score_thresh: float = 0.95,
    stability_score_offset: float = 1.0,
    box_nms_thresh: float = 0.7,
    min_region_area: int = 100,
    on_progress: Callable[[int, int], None] | None = None,
) -> AutoMaskRun:
    """Every object mask the model finds in the image, best predicted IoU first, with
    how many candidates each filter removed.

    `on_progress(done, total)` is called after each batch of clicks (for task
    progress bars). Raises ValueError for out-of-range settings.
    """
    if not 1 <= points_per_side <= 256:
        raise ValueError(f"points_per_side must be in 1..256, got {points_per_side}")
    if points_per_batch < 1:
        raise ValueError(f"points_per_batch must be at least 1, got {points_per_batch}")
    if not 0.0 <= box_nms_thresh <= 1.0:
        raise ValueError(f"box_nms_thresh must be in 0..1, got {box_nms_thresh}")
    if pred_iou_thresh is None:
        pred_iou_thresh = DEFAULT_PRED_IOU_THRESH[model.family]
    model.check_embedding(embedding)
    height, width = embedding.original_size
    points = point_grid(points_per_side, height, width)
    found: list[_Found] = []
    counts = FilterCounts(pred_iou_thresh, stability_score_thresh, min_region_area)
    total = len(points)
    for start in range(0, total, points_per_batch):
        batch = points[start : start + points_per_batch]
        found.extend(
            _decode_batch(
                model, embedding, batch, pred_iou_thresh,
                stability_score_thresh, stability_score_offset, counts,
            )
        )  # fmt: skip
        if on_progress is not None:
            on_progress(min(start + points_per_batch, total), total)
    before = len(found)
    found = _nms(found, [f.score for f in found], box_nms_thresh)
    counts.duplicates = before - len(found)
    if min_region_area > 0:
        found = _clean_regions(found, min_region_area, box_nms_thresh, counts)
    found.sort(key=lambda f: f.score, reverse=True)
    counts.kept = len(found)
    masks = [
        AutoMask(
            rle=item.rle,
            score=item.score,
            stability=item.stability,
            bbox=rle_bbox(item.rle),
            area=rle_area(item.rle),
            point=item.point,
        )
        for item in found
    ]
    return AutoMaskRun(masks, counts)


def _decode_batch(
    model: SegmentationModel,
    embedding: Embedding,
    points: np.ndarray,
    pred_iou_thresh: float,
    stability_thresh: float,
    stability_offset: float,
    counts: FilterCounts,
) -> list[_Found]:
    """Decode B clicks (B, 2) -> the candidates that pass both filters, as RLE."""
    low_res, iou = model.decode_points_batch(embedding, points, multimask=True)
    per_point = low_res.shape[1]
    low_res, iou = low_res.flatten(0, 1), iou.flatten(0, 1).float()  # (B*3, h, w), (B*3,)
    candidates = torch.nonzero(iou > pred_iou_thresh).flatten().tolist()
    counts.candidates += int(iou.shape[0])
    counts.below_iou += int(iou.shape[0]) - len(candidates)
    # Image-sized float logits are big (48 MB each for 12 Mpx): upscale a few at a time.
    height, width = embedding.original_size
    chunk = max(1, UPSCALE_BUDGET_PIXELS // (height * width))
    found = []
    for start in range(0, len(candidates), chunk):
        indices = candidates[start : start + chunk]
        logits = model.upscale_logits(embedding, low_res[indices])  # (k, H, W)
        stability = stability_score(logits, 0.0, stability_offset).tolist()
        stable = [i for i, value in enumerate(stability) if value > stability_thresh]
        counts.unstable += len(indices) - len(stable)
        if not stable:
            continue
        masks = logits_to_masks(logits[stable])
        for mask, row in zip(masks, stable, strict=True):
            x, y, w, h = mask_bbox(mask)
            if w == 0:
                counts.empty += 1
                continue
            index = indices[row]
            px, py = points[index // per_point]
            found.append(
                _Found(
                    rle=rle_encode(mask),
                    box=[x, y, x + w, y + h],
                    score=float(iou[index]),
                    stability=float(stability[row]),
                    point=(float(px), float(py)),
                )
            )
    return found


def _nms(found: list[_Found], scores: list[float], threshold: float) -> list[_Found]:
    if len(found) <= 1:
        return found
    boxes = torch.tensor([f.box for f in found], dtype=torch.float32)
    kept = box_nms(boxes, torch.tensor(scores, dtype=torch.float32), threshold)
    return [found[i] for i in kept.tolist()]


def _clean_regions(
    found: list[_Found], min_area: int, nms_thresh: float, counts: FilterCounts
) -> list[_Found]:
    """Fill small holes, drop small islands; prefer untouched masks in a second NMS."""
    cleaned: list[_Found] = []
    untouched: list[float] = []
    for item in found:
        mask = rle_decode(item.rle)
        mask, filled = remove_small_regions(mask, min_area, "holes")
        mask, trimmed = remove_small_regions(mask, min_area, "islands")
        if mask_area(mask) < min_area:
            counts.too_small += 1
            continue
        if filled or trimmed:
            x, y, w, h = mask_bbox(mask)
            box = [x, y, x + w, y + h]
            item = _Found(rle_encode(mask), box, item.score, item.stability, item.point)
        cleaned.append(item)
        untouched.append(0.0 if (filled or trimmed) else 1.0)
    kept = _nms(cleaned, untouched, nms_thresh)
    counts.duplicates += len(cleaned) - len(kept)
    return kept
