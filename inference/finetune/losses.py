"""SAM's training losses: focal + dice on the mask logits (20:1), MSE on the IoU head.

Shapes: logits (m, L, L) for the m masks one prompt returns, target (L, L) 0/1,
predicted IoU (m,). With several masks (an ambiguous single click) only the best
one is trained on, as in SAM; the IoU head learns every mask's true IoU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FOCAL_WEIGHT = 20.0
DICE_WEIGHT = 1.0
IOU_WEIGHT = 1.0
FOCAL_ALPHA = 0.25
FOCAL_GAMMA = 2.0


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-mask mean sigmoid focal loss (m,) (alpha 0.25, gamma 2, as in RetinaNet/SAM)."""
    prob = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target.expand_as(logits), reduction="none")
    p_t = prob * target + (1 - prob) * (1 - target)
    alpha_t = FOCAL_ALPHA * target + (1 - FOCAL_ALPHA) * (1 - target)
    return (alpha_t * ce * (1 - p_t) ** FOCAL_GAMMA).flatten(1).mean(1)


def dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-mask soft dice loss (m,)."""
    prob = torch.sigmoid(logits).flatten(1)
    flat = target.expand_as(logits).flatten(1)
    numerator = 2 * (prob * flat).sum(1)
    denominator = prob.sum(1) + flat.sum(1)
    return 1 - (numerator + 1) / (denominator + 1)


def mask_iou(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU (m,) of each thresholded mask with the target (no gradient)."""
    with torch.no_grad():
        predicted = (logits > 0).flatten(1).float()
        flat = target.expand_as(logits).flatten(1)
        intersection = (predicted * flat).sum(1)
        union = predicted.sum(1) + flat.sum(1) - intersection
        return torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))


def sam_loss(logits: torch.Tensor, iou_pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """20 focal + 1 dice on the best of the m masks, + MSE of the IoU head (scalar)."""
    logits, iou_pred = logits.float(), iou_pred.float()
    per_mask = FOCAL_WEIGHT * focal_loss(logits, target) + DICE_WEIGHT * dice_loss(logits, target)
    best = per_mask.min()
    iou = F.mse_loss(iou_pred, mask_iou(logits, target), reduction="mean")
    return best + IOU_WEIGHT * iou
