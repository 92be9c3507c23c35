"""Training prompts, drawn the way the click protocol (the evaluator) places clicks.

Everything here works in the decoder's low-res frame: the (L, L) grid (L = 256) its
logits cover, over the model input (the resized image, zero-padded for SAM). A
target mask is resampled into that frame once (`low_res_target`); clicks and boxes
are placed on it and converted to model-input coordinates (`cell_to_model`), so
training never touches full-size masks after loading.

* First click: the target pixel farthest from the mask's boundary (what the
  standard NoC protocol clicks first).
* Corrective click: the error pixel (missed or extra) farthest from the boundary of
  its error region; positive where the model missed the object, negative where it
  spilled over. The caller supplies the current prediction.
* Box: the target's bounding box with each side moved by gaussian noise of 10% of
  the box side, at most 20 px of the model input (SAM's box jitter).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

BOX_NOISE = 0.1
BOX_NOISE_MAX = 20.0  # model-input pixels


def low_res_target(
    mask: np.ndarray, input_size: tuple[int, int], padded: bool, low_res: int, image_size: int
) -> torch.Tensor:
    """A full-size (H, W) bool mask -> (L, L) float32 0/1 in the decoder's frame.

    SAM (`padded`): the mask resized like the image to `input_size` inside the
    `image_size` square, padding empty. SAM 2: the mask stretched to the square.
    """
    full = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]
    if padded:
        scale = low_res / image_size
        h = max(1, round(input_size[0] * scale))
        w = max(1, round(input_size[1] * scale))
        inner = F.interpolate(full, (h, w), mode="area")
        target = F.pad(inner, (0, low_res - w, 0, low_res - h))
    else:
        target = F.interpolate(full, (low_res, low_res), mode="area")
    return (target[0, 0] >= 0.5).float()


def cell_to_model(yx: tuple[int, int], low_res: int, image_size: int) -> tuple[float, float]:
    """Low-res cell (y, x) -> its centre (x, y) in model-input pixels."""
    scale = image_size / low_res
    return (yx[1] + 0.5) * scale, (yx[0] + 0.5) * scale


def _farthest_inside(region: np.ndarray) -> tuple[tuple[int, int], float]:
    """The pixel of `region` farthest from its boundary (the image border counts as
    boundary), and that distance; ((-1, -1), 0) for an empty region."""
    if not region.any():
        return (-1, -1), 0.0
    distance = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    flat = int(np.argmax(distance))  # first maximum: deterministic
    y, x = divmod(flat, region.shape[1])
    return (y, x), float(distance[y, x])


def first_click(target: np.ndarray) -> tuple[int, int] | None:
    """(y, x) of the first click on an (L, L) bool target; None when it is empty."""
    point, depth = _farthest_inside(target)
    return point if depth > 0 else None


def corrective_click(
    target: np.ndarray, predicted: np.ndarray
) -> tuple[tuple[int, int], int] | None:
    """((y, x), label) of the next click given the current (L, L) bool prediction:
    1 in the largest-margin missed region, 0 in the largest-margin extra one; None
    when the prediction is already exact."""
    missed, depth_missed = _farthest_inside(target & ~predicted)
    extra, depth_extra = _farthest_inside(predicted & ~target)
    if depth_missed == 0 and depth_extra == 0:
        return None
    if depth_missed >= depth_extra:
        return missed, 1
    return extra, 0


def jittered_box(
    target: np.ndarray, rng: np.random.Generator, low_res: int, image_size: int
) -> np.ndarray | None:
    """(4,) x0, y0, x1, y1 in model-input pixels around the target, jittered."""
    ys, xs = np.nonzero(target)
    if len(ys) == 0:
        return None
    scale = image_size / low_res
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64) * scale
    sides = np.array([box[2] - box[0], box[3] - box[1]] * 2)
    noise = rng.normal(0.0, 1.0, 4) * np.minimum(sides * BOX_NOISE, BOX_NOISE_MAX)
    box = np.clip(box + noise, 0, image_size)
    x0, x1 = sorted((box[0], box[2]))
    y0, y1 = sorted((box[1], box[3]))
    return np.array([x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)], np.float32)
