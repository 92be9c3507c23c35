"""SAM 3 detections to instances: scores, masks at image size, boxes, de-duplication.

SAM 3 scores each of its object queries by sigmoid(logit) × sigmoid(presence), where
the presence head says whether the concept is in the image at all. transformers'
`post_process_instance_segmentation` stops there and does no NMS; a labeling tool
must not offer the same object twice, so `find_instances` adds a mask NMS (by mask
IoU, best score first) and a minimum area, and caps how many it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from inference.masks import rle_encode


@dataclass(frozen=True)
class Instance:
    """One found object: a COCO RLE at image size, its xyxy box in pixels, its score
    (sigmoid(logit) × sigmoid(presence)) and its area in pixels."""

    rle: dict[str, Any]
    box: tuple[float, float, float, float]
    score: float
    area: int

    def as_dict(self) -> dict[str, Any]:
        return {"rle": self.rle, "box": list(self.box), "score": self.score, "area": self.area}


def query_scores(pred_logits: torch.Tensor, presence_logits: torch.Tensor | None) -> torch.Tensor:
    """(Q,) scores of one image's queries: sigmoid(logit) × sigmoid(presence)."""
    scores = pred_logits.float().sigmoid()
    if presence_logits is not None:
        scores = scores * presence_logits.float().sigmoid().reshape(())
    return scores


def binary_masks(
    pred_masks: torch.Tensor, size: tuple[int, int], mask_threshold: float
) -> torch.Tensor:
    """(K, h, w) mask logits → (K, H, W) booleans at image size `size` (H, W): sigmoid,
    bilinear resize, then the threshold (transformers' order)."""
    if pred_masks.shape[0] == 0:
        return torch.zeros((0, *size), dtype=torch.bool)
    probabilities = pred_masks.float().sigmoid()[None]
    resized = F.interpolate(probabilities, size=size, mode="bilinear", align_corners=False)[0]
    return resized > mask_threshold


def mask_nms(masks: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> list[int]:
    """Indices kept, best score first: a mask overlapping a kept one at IoU above
    `iou_threshold` is a duplicate.

    Exact at the masks' size, but on bit-packed rows: a 1024x768 mask is 98 KB of bits
    instead of 3 MB of floats, one candidate is compared with every kept mask in one
    AND and popcount, and the kept masks are a view of one array, never copied. (A
    float matmul against the kept masks gathered anew per candidate took 100 s for
    the 200 queries a random SAM 3 returns at threshold 0.)"""
    count = masks.shape[0]
    if count == 0:
        return []
    bits = np.packbits(masks.reshape(count, -1).numpy(), axis=1)
    areas = np.bitwise_count(bits).sum(axis=1, dtype=np.int64)
    order = torch.argsort(scores, descending=True).tolist()
    kept_bits = np.empty_like(bits)
    kept_areas = np.empty(count, dtype=np.int64)
    kept: list[int] = []
    for index in order:
        n = len(kept)
        if n:
            overlap = np.bitwise_count(kept_bits[:n] & bits[index]).sum(axis=1, dtype=np.int64)
            union = kept_areas[:n] + areas[index] - overlap
            iou = np.where(union > 0, overlap / np.maximum(union, 1), 0.0)
            if bool((iou > iou_threshold).any()):
                continue
        kept_bits[n] = bits[index]
        kept_areas[n] = areas[index]
        kept.append(index)
    return kept


def instances(
    outputs: Any,
    size: tuple[int, int],
    *,
    threshold: float,
    mask_threshold: float = 0.5,
    min_area: int = 0,
    nms_iou: float = 0.5,
    max_instances: int = 100,
) -> list[Instance]:
    """The instances of one image (batch index 0) from a `Sam3Model` output, best first."""
    presence = outputs.presence_logits[0] if outputs.presence_logits is not None else None
    scores = query_scores(outputs.pred_logits[0], presence)
    keep = scores > threshold
    scores = scores[keep]
    if scores.numel() == 0:
        return []
    masks = binary_masks(outputs.pred_masks[0][keep], size, mask_threshold)
    # numpy counts booleans several times faster than torch's sum over a bool tensor.
    areas = np.count_nonzero(masks.numpy().reshape(masks.shape[0], -1), axis=1)
    big = torch.from_numpy(areas >= max(min_area, 1))
    masks, scores = masks[big], scores[big]
    height, width = size
    boxes = outputs.pred_boxes[0][keep][big].float() * torch.tensor([width, height, width, height])
    found = []
    for index in mask_nms(masks, scores, nms_iou)[:max_instances]:
        mask = masks[index].numpy().astype(np.uint8)
        x1, y1, x2, y2 = (float(v) for v in boxes[index].clamp(min=0))
        box = (min(x1, width), min(y1, height), min(x2, width), min(y2, height))
        found.append(Instance(rle_encode(mask), box, float(scores[index]), int(mask.sum())))
    return found
