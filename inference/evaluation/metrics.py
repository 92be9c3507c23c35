"""Summary figures of interactive segmentation over many IoU-per-click curves.

NoC@t (number of clicks): the clicks an instance needs until its IoU first reaches
t; an instance that never does within the click budget counts the budget (20).
NoF@t (number of failures): how many instances never reach t. mIoU@k: the mean IoU
after k clicks. These follow the interactive segmentation literature (Xu et al.
2016 for NoC; Sofiiuk et al. 2021 for NoF and the 20-click budget).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MAX_CLICKS = 20
THRESHOLDS = {"85": 0.85, "90": 0.90}
MIOU_AT = (1, 3, 5)


def clicks_to_reach(ious: Sequence[float], threshold: float, max_clicks: int = MAX_CLICKS) -> int:
    """Clicks until the IoU first reaches `threshold`; `max_clicks` if it never does."""
    for number, value in enumerate(ious[:max_clicks], start=1):
        if value >= threshold:
            return number
    return max_clicks


def iou_at(ious: Sequence[float], clicks: int) -> float:
    """IoU after `clicks` clicks. A curve that stopped early (a perfect mask, no
    error left to click on) keeps its last value."""
    if not ious:
        return 0.0
    return float(ious[min(clicks, len(ious)) - 1])


def instance_figures(ious: Sequence[float], max_clicks: int = MAX_CLICKS) -> dict[str, Any]:
    """One instance's NoC at each threshold and IoU at 1, 3 and 5 clicks."""
    figures: dict[str, Any] = {}
    for name, threshold in THRESHOLDS.items():
        figures[f"noc{name}"] = clicks_to_reach(ious, threshold, max_clicks)
    for k in MIOU_AT:
        figures[f"iou{k}"] = iou_at(ious, k)
    return figures


def summarize(ious: Sequence[Sequence[float]], max_clicks: int = MAX_CLICKS) -> dict[str, Any]:
    """Many instances' IoU-per-click curves -> noc85, noc90 (means), nof85, nof90
    (counts), miou1, miou3, miou5 (means) and instances (count). All None but the
    count for no instances."""
    count = len(ious)
    summary: dict[str, Any] = {"instances": count}
    if count == 0:
        for name in THRESHOLDS:
            summary[f"noc{name}"] = summary[f"nof{name}"] = None
        for k in MIOU_AT:
            summary[f"miou{k}"] = None
        return summary
    per = [instance_figures(curve, max_clicks) for curve in ious]
    for name, threshold in THRESHOLDS.items():
        summary[f"noc{name}"] = round(sum(f[f"noc{name}"] for f in per) / count, 4)
        # A failure never reaches the threshold; needing all 20 clicks but reaching
        # it at the 20th is not one.
        summary[f"nof{name}"] = sum(
            1 for curve in ious if not any(v >= threshold for v in curve[:max_clicks])
        )
    for k in MIOU_AT:
        summary[f"miou{k}"] = round(sum(f[f"iou{k}"] for f in per) / count, 4)
    return summary
