"""Box IoU and greedy non-maximum suppression in torch (no torchvision).

Used to drop duplicate masks, e.g. in automatic mask generation. Same semantics as
torchvision's ``nms``: boxes are ``(x0, y0, x1, y1)``, a box is suppressed when its
IoU with a higher-scoring kept box is strictly greater than the threshold.
"""

from __future__ import annotations

import numpy as np
import torch


def _check_boxes(boxes: torch.Tensor, name: str) -> None:
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {tuple(boxes.shape)}.")


def _as_float(boxes: torch.Tensor) -> torch.Tensor:
    # float64 stays exact; integer and half-precision boxes are computed in float32.
    return boxes if boxes.dtype in (torch.float32, torch.float64) else boxes.float()


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4) -> (N, M).

    Degenerate boxes (zero or negative extent) have zero area; a pair whose union is
    empty gets IoU 0 rather than NaN.
    """
    _check_boxes(a, "a")
    _check_boxes(b, "b")
    a, b = _as_float(a), _as_float(b)
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    # Work in (N, M) planes with in-place ops: for thousands of boxes this is memory
    # bound, and it is twice as fast as building (N, M, 2) corner tensors.
    inter = torch.minimum(a[:, None, 2], b[None, :, 2])
    inter.sub_(torch.maximum(a[:, None, 0], b[None, :, 0])).clamp_(min=0)
    height = torch.minimum(a[:, None, 3], b[None, :, 3])
    height.sub_(torch.maximum(a[:, None, 1], b[None, :, 1])).clamp_(min=0)
    inter.mul_(height)
    union = (area_a[:, None] + area_b[None, :]).sub_(inter)
    # An empty union means an empty intersection too, so 0 / tiny = 0, not NaN.
    return inter.div_(union.clamp_(min=torch.finfo(union.dtype).tiny))


def box_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS. boxes (N, 4) xyxy, scores (N,) -> kept indices (K,) int64.

    The kept indices are sorted by descending score (ties keep input order). The IoU
    matrix is computed once on the boxes' device; the greedy pass then walks it on
    the CPU, touching one row per *kept* box, so the cost is O(N^2) memory and
    O(N * K) time.
    """
    _check_boxes(boxes, "boxes")
    if scores.ndim != 1 or scores.shape[0] != boxes.shape[0]:
        raise ValueError(f"scores must have shape ({boxes.shape[0]},), got {tuple(scores.shape)}.")
    n = boxes.shape[0]
    if n == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    sorted_boxes = boxes[order]
    overlaps = (box_iou(sorted_boxes, sorted_boxes) > iou_threshold).cpu().numpy()
    suppressed = np.zeros(n, dtype=np.bool_)
    keep = []
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(i)
        # Only later (lower-scoring) boxes can be suppressed by box i.
        suppressed[i + 1 :] |= overlaps[i, i + 1 :]
    return order[torch.tensor(keep, dtype=torch.int64, device=order.device)]
