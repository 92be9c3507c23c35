"""RoIAlign in plain torch, for SAM 3's box exemplars without torchvision.

transformers' SAM 3 geometry encoder pools each exemplar box with
`torchvision.ops.roi_align`, and Anymask never depends on torchvision (a second
multi-GB wheel tied to one torch build). This is the same operation (Mask R-CNN's
RoIAlign with `aligned=False`, `spatial_scale=1` and adaptive sampling, the call SAM 3
makes), written with `grid_sample`, and `install()` hands it to the SAM 3 module
when torchvision is absent.
"""

from __future__ import annotations

import math
import sys
import types

import torch
import torch.nn.functional as F


def roi_align(
    features: torch.Tensor, boxes: list[torch.Tensor] | tuple[torch.Tensor, ...], output_size: int
) -> torch.Tensor:
    """Pool `features` (N, C, H, W) under each box of `boxes` (per image, (K, 4) xyxy in
    feature pixels) into (sum K, C, output_size, output_size).

    Each output bin averages a grid of ceil(box side / output_size) bilinear samples
    (at least one), as torchvision does with sampling_ratio=-1; a sample more than
    one pixel outside the map counts as zero and one just outside is clamped to it.
    """
    pooled = []
    height, width = features.shape[-2:]
    for image_index, image_boxes in enumerate(boxes):
        for box in image_boxes.to(torch.float32):
            x1, y1, x2, y2 = (float(v) for v in box)
            # aligned=False: boxes smaller than a pixel are taken as one pixel.
            box_w, box_h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
            bin_w, bin_h = box_w / output_size, box_h / output_size
            samples_x = max(math.ceil(box_w / output_size), 1)
            samples_y = max(math.ceil(box_h / output_size), 1)
            # Sample centres inside every bin, along each axis.
            xs = x1 + (torch.arange(output_size * samples_x, dtype=torch.float32) + 0.5) * (
                bin_w / samples_x
            )
            ys = y1 + (torch.arange(output_size * samples_y, dtype=torch.float32) + 0.5) * (
                bin_h / samples_y
            )
            values = _bilinear(features[image_index].float(), xs, ys, width, height)
            channels = values.shape[0]
            values = values.view(channels, output_size, samples_y, output_size, samples_x)
            pooled.append(values.mean(dim=(2, 4)))
    if not pooled:
        return features.new_zeros((0, features.shape[1], output_size, output_size))
    return torch.stack(pooled).to(features.dtype)


def _bilinear(
    feature: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor, width: int, height: int
) -> torch.Tensor:
    """(C, len(ys), len(xs)) bilinear samples at pixel coordinates, torchvision's way:
    zero beyond one pixel outside the map, clamped to the edge within it."""
    outside_x = (xs < -1.0) | (xs > width)
    outside_y = (ys < -1.0) | (ys > height)
    # The sample at a coordinate c reads pixel centres at c - 0.5 in grid_sample's
    # align_corners=False convention; torchvision reads integer pixels at c.
    cx = xs.clamp(0, width - 1)
    cy = ys.clamp(0, height - 1)
    gx = (cx + 0.5) / width * 2 - 1
    gy = (cy + 0.5) / height * 2 - 1
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None]
    sampled = F.grid_sample(
        feature[None].to(grid.device), grid.to(feature.dtype), mode="bilinear", align_corners=False
    )[0]
    keep = (~outside_y)[:, None] & (~outside_x)[None, :]
    return sampled * keep.to(sampled.dtype)


def install() -> None:
    """Give transformers' SAM 3 module our RoIAlign when torchvision is not installed."""
    from transformers.models.sam3 import modeling_sam3

    if getattr(modeling_sam3, "torchvision", None) is not None:
        return
    shim = types.ModuleType("anymask_torchvision_shim")
    shim.ops = types.SimpleNamespace(roi_align=roi_align)  # type: ignore[attr-defined]
    modeling_sam3.torchvision = shim
    sys.modules.setdefault("anymask_torchvision_shim", shim)
