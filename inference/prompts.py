"""Prompts: the clicks, box and previous mask an annotator gives for one decode.

Coordinates are in pixels of the original image, x to the right and y down, the
convention SAM uses (the engines map them into the model's 1024-pixel space).
A `Prompt` validates itself on construction; `check_bounds` adds the checks that
need the image size. Every problem raises `PromptError` with a message meant for
the person who clicked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import PromptError

MAX_POINTS = 64
"""Most points one prompt may carry (SAM was trained with far fewer; more only costs)."""

LOW_RES_SIZE = 256
"""Side of the low-resolution logits SAM and SAM 2 predict and accept back as a prompt."""

POSITIVE, NEGATIVE = 1, 0


@dataclass(eq=False)
class Prompt:
    """One decode request.

    points: (N, 2) float32 x, y in original-image pixels (N may be 0 with a box).
    labels: (N,) int64, 1 = the object is here, 0 = it is not.
    box: optional (4,) float32 x0, y0, x1, y1 in original-image pixels.
    mask_logits: optional (1, 256, 256) float32 low-res logits of an earlier candidate
        (`Candidate.low_res_logits`), to refine that mask.
    multimask: ask for 3 candidates instead of 1. Defaults to True only for a single
        click without box or mask, where the object is ambiguous (part or whole).
    """

    points: Any = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    labels: Any = field(default_factory=lambda: np.zeros((0,), np.int64))
    box: Any = None
    mask_logits: Any = None
    multimask: bool | None = None

    def __post_init__(self) -> None:
        self.points = _as_points(self.points)
        self.labels = _as_labels(self.labels, len(self.points))
        self.box = None if self.box is None else _as_box(self.box)
        self.mask_logits = None if self.mask_logits is None else _as_mask(self.mask_logits)
        if len(self.points) == 0 and self.box is None:
            raise PromptError("the prompt is empty: click at least one point or draw a box")
        if self.multimask is None:
            self.multimask = len(self.points) == 1 and self.box is None and self.mask_logits is None
        elif not isinstance(self.multimask, bool | np.bool_):
            raise PromptError(f"multimask must be true or false, not {self.multimask!r}")
        self.multimask = bool(self.multimask)

    @classmethod
    def click(cls, x: float, y: float, positive: bool = True) -> Prompt:
        """A single click."""
        return cls(points=[[x, y]], labels=[POSITIVE if positive else NEGATIVE])

    def check_bounds(self, height: int, width: int) -> None:
        """Raise `PromptError` if a point or the box lies outside a height x width image.

        The right and bottom edges (x == width, y == height) are allowed: browsers
        report the far edge of the last pixel that way.
        """
        if len(self.points):
            xs, ys = self.points[:, 0], self.points[:, 1]
            bad = (xs < 0) | (xs > width) | (ys < 0) | (ys > height)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise PromptError(
                    f"point {i} at ({xs[i]:g}, {ys[i]:g}) is outside the {width}x{height} image"
                )
        if self.box is not None:
            x0, y0, x1, y1 = (float(v) for v in self.box)
            if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
                raise PromptError(
                    f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) reaches outside the "
                    f"{width}x{height} image"
                )


def _finite_array(value: Any, what: str) -> np.ndarray:
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError):  # ragged nesting
        raise PromptError(f"{what} must be numbers, got {_describe(value)}") from None
    # Reject text and objects rather than let numpy parse "12" as a number.
    if raw.dtype.kind not in "biuf":
        raise PromptError(f"{what} must be numbers, got {_describe(value)}")
    array = raw.astype(np.float64)
    if not np.isfinite(array).all():
        raise PromptError(f"{what} contain NaN or infinite values")
    return array


def _as_points(value: Any) -> np.ndarray:
    array = _finite_array(value, "points")
    if array.size == 0:
        return np.zeros((0, 2), np.float32)
    if array.ndim != 2 or array.shape[1] != 2:
        raise PromptError(f"points must be a list of [x, y] pairs, got shape {array.shape}")
    if len(array) > MAX_POINTS:
        raise PromptError(f"too many points: {len(array)} (at most {MAX_POINTS} per prompt)")
    return array.astype(np.float32)


def _as_labels(value: Any, n_points: int) -> np.ndarray:
    array = _finite_array(value, "labels")
    if array.size == 0:
        array = array.reshape(0)
    if array.ndim != 1 or len(array) != n_points:
        raise PromptError(
            f"labels must give one 0/1 value per point: {n_points} points but labels "
            f"of shape {array.shape}"
        )
    if not np.isin(array, (NEGATIVE, POSITIVE)).all():
        bad = sorted({float(v) for v in array if v not in (NEGATIVE, POSITIVE)})
        raise PromptError(
            f"labels must be 1 (object) or 0 (background), got {', '.join(f'{v:g}' for v in bad)}"
        )
    return array.astype(np.int64)


def _as_box(value: Any) -> np.ndarray:
    array = _finite_array(value, "box coordinates")
    if array.shape != (4,):
        raise PromptError(f"box must be [x0, y0, x1, y1], got shape {array.shape}")
    x0, y0, x1, y1 = array
    if not (x1 > x0 and y1 > y0):
        raise PromptError(
            f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) must have x1 > x0 and y1 > y0 (positive size)"
        )
    return array.astype(np.float32)


def _as_mask(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor; keep torch out of this module's imports
        value = value.detach().float().cpu().numpy()
    array = _finite_array(value, "mask logits")
    if array.shape == (LOW_RES_SIZE, LOW_RES_SIZE):
        array = array[None]
    if array.shape != (1, LOW_RES_SIZE, LOW_RES_SIZE):
        raise PromptError(
            f"mask logits must have shape (1, {LOW_RES_SIZE}, {LOW_RES_SIZE}) as returned "
            f"by a previous decode, got {array.shape}"
        )
    return np.ascontiguousarray(array, dtype=np.float32)


def _describe(value: Any) -> str:
    if isinstance(value, str | bytes):
        return f"text {value[:20]!r}"
    if isinstance(value, Sequence) and len(value) > 6:
        return f"a sequence of {len(value)} items"
    return repr(value)[:60]
