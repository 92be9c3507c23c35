"""Interactive-segmentation evaluation by the standard protocol (no Django).

`clicks.next_click` places the simulated annotator's clicks as RITM does,
`simulate.simulate_instance` plays up to 20 of them against a model and records
the IoU after each, and `metrics.summarize` turns many such curves into NoC@85 /
NoC@90, NoF and mIoU@k, the figures the interactive segmentation literature reports.

The simulator needs torch; it is imported on first use, so the click and metric
code (numpy and scipy only) stays cheap to import, as `inference` itself does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .clicks import Click, next_click
from .metrics import MAX_CLICKS, summarize

if TYPE_CHECKING:
    from .simulate import simulate_image, simulate_instance

__all__ = ["MAX_CLICKS", "Click", "next_click", "simulate_image", "simulate_instance", "summarize"]


def __getattr__(name: str) -> Any:
    if name in ("simulate_image", "simulate_instance"):
        from . import simulate

        return getattr(simulate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
