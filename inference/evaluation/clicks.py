"""The simulated annotator's next click, by the RITM protocol (Sofiiuk et al. 2021).

The protocol, as the paper and the evaluation code published with it describe it:
compare the prediction with the ground truth; the false-negative pixels (object
missed) and the false-positive pixels (background taken) form the two error
regions. Take the Euclidean distance of every error pixel to the nearest pixel
outside its region, counting the image border as outside. The next click goes to
the error pixel farthest from its region's boundary, in the region whose farthest
pixel is farther (that is what "the larger error region" means in the code: the
one with the larger interior distance): positive in the false-negative region,
negative in the false-positive one. With no prediction yet everything is missed,
so the first click lands at the object's innermost point. Ties go to the first
pixel in row-major order, and to the negative region when both regions' maxima are
equal, as `fn_max > fp_max` decides in the published code. A pixel already clicked
is never clicked again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Click:
    """A click on pixel (x, y) (column, row); `positive` = "the object is here"."""

    x: int
    y: int
    positive: bool

    @property
    def point(self) -> tuple[float, float]:
        """The click in the engine's continuous coordinates: the pixel's centre."""
        return (self.x + 0.5, self.y + 0.5)


class NothingToClick(ValueError):
    """The prediction equals the ground truth: there is no error left to click on."""


def interior_distance(region: np.ndarray) -> np.ndarray:
    """Euclidean distance of each pixel of `region` (bool HxW) to the nearest pixel
    outside it, the image border counted as outside; 0 outside the region.

    Computed on the region's bounding box plus a one-pixel frame, which gives the
    same distances as the whole image: every pixel outside the box is outside the
    region, and for any such pixel the frame holds one at least as close.
    """
    distances = np.zeros(region.shape, np.float64)
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    if not len(rows):
        return distances
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    # Zero padding of one pixel on every side makes the image border a boundary.
    crop = np.pad(region[top:bottom, left:right], 1)
    distances[top:bottom, left:right] = ndimage.distance_transform_edt(crop)[1:-1, 1:-1]
    return distances


def next_click(gt: np.ndarray, pred: np.ndarray | None, clicked: Iterable[Click] = ()) -> Click:
    """Where the simulated annotator clicks next (see the module doc).

    gt, pred: bool HxW masks (pred None before the first click). `clicked`: earlier
    clicks, whose pixels are not clicked again. Raises `NothingToClick` when no
    error pixel is left, `ValueError` for an empty ground truth or mismatched shapes.
    """
    gt = np.asarray(gt, bool)
    if gt.ndim != 2:
        raise ValueError(f"ground truth must be an HxW mask, got shape {gt.shape}")
    if not gt.any():
        raise ValueError("the ground-truth mask is empty")
    if pred is None:
        pred = np.zeros_like(gt)
    pred = np.asarray(pred, bool)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    false_negative = interior_distance(gt & ~pred)
    false_positive = interior_distance(~gt & pred)
    for click in clicked:
        false_negative[click.y, click.x] = false_positive[click.y, click.x] = 0.0
    fn_max, fp_max = float(false_negative.max()), float(false_positive.max())
    if fn_max == 0.0 and fp_max == 0.0:
        raise NothingToClick("the prediction matches the ground truth")
    positive = fn_max > fp_max
    distances = false_negative if positive else false_positive
    # argmax returns the first maximum in row-major order: deterministic ties.
    y, x = np.unravel_index(int(np.argmax(distances)), distances.shape)
    return Click(int(x), int(y), positive)


def iou(gt: np.ndarray, pred: np.ndarray) -> float:
    """Intersection over union of two bool masks (1.0 when both are empty)."""
    union = int(np.count_nonzero(gt | pred))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(gt & pred)) / union
