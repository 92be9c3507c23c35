"""The gate: a tuned decoder is kept only if it beats the base on held-out images.

Both models play the evaluator's click protocol (`inference.evaluation`) on the
same held-out masks; `is_better` compares the summaries by a margin.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..evaluation import simulate_image, summarize
from ..model import SegmentationModel
from .train import TrainingImage


def evaluate(
    model: SegmentationModel,
    images: Sequence[TrainingImage],
    max_clicks: int,
    on_image: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """`summarize` of every mask of `images` (loaded one at a time) under `model`."""
    curves: list[list[float]] = []
    for image in images:
        embedding, masks = image.load()
        masks = [m for m in masks if m.any()]
        if masks:
            curves.extend(simulate_image(model, embedding, masks, max_clicks))
        if on_image is not None:
            on_image()
    return summarize(curves, max_clicks)


def is_better(
    base: dict[str, Any], tuned: dict[str, Any], min_miou_gain: float, min_noc_drop: float
) -> bool:
    """True when the tuned summary's mIoU@1 is higher by `min_miou_gain`, or its NoC@85
    lower by `min_noc_drop`, and neither figure got worse."""
    if not base.get("instances") or base.get("miou1") is None or tuned.get("miou1") is None:
        return False
    gain = tuned["miou1"] - base["miou1"]
    drop = base["noc85"] - tuned["noc85"]
    if gain < 0 or drop < 0:
        return False
    return gain >= min_miou_gain or drop >= min_noc_drop
