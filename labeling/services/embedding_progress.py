"""The project page's embedding progress: ready of total, failures, and time left.

The time left comes from the recent rate: the finish times (`Image.embedded_at`) of
the project's last RATE_SAMPLE embeddings within RATE_WINDOW. Over those n finishes
spread across `span` seconds, the rate is (n - 1) / span. That rate holds while the
workers keep pace; once the next finish is overdue, the rate counts the wait since
the first finish as well (n / (now - first)), so a stalled worker makes the estimate
grow instead of freezing it. The estimate is shown in whole minutes ("about 4 min
left"), which keeps it steady from one refresh to the next.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from labeling.models import Image, Project
from labeling.wording import plural

RATE_WINDOW = timedelta(minutes=10)  # older finishes say little about the workers now
RATE_SAMPLE = 50  # the latest finishes the rate is measured over
MIN_FINISHES = 2  # one finish is no rate


def embedding_rate(finished: Sequence[datetime], now: datetime) -> float | None:
    """Embeddings per second from recent finish times (any order), or None when too
    few finished within RATE_WINDOW to tell."""
    recent = sorted(t for t in finished if timedelta(0) <= now - t <= RATE_WINDOW)
    recent = recent[-RATE_SAMPLE:]
    if len(recent) < MIN_FINISHES:
        return None
    first, last = recent[0], recent[-1]
    span = (last - first).total_seconds()
    if span <= 0:  # finished in the same instant (stored embeddings found): no pace yet
        return None
    on_pace = (len(recent) - 1) / span
    waited = len(recent) / (now - first).total_seconds()  # lower once a finish is overdue
    return min(on_pace, waited)


def time_left_text(seconds: float) -> str:
    """'about 4 min left', steady across refreshes (whole minutes, then 10 minutes)."""
    if seconds < 60:
        return "less than a minute left"
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min left"
    hours, rest = divmod(10 * math.ceil(minutes / 10), 60)
    return f"about {hours} h {rest} min left" if rest else f"about {hours} h left"


@dataclass(frozen=True)
class EmbeddingProgress:
    total: int
    ready: int
    failed: int
    waiting: int  # pending or running
    per_minute: float | None  # the recent rate, None when unknown
    seconds_left: float | None
    text: str  # the line the page shows

    @property
    def done(self) -> bool:
        return self.waiting == 0

    def as_json(self) -> dict[str, object]:
        return {
            "total": self.total,
            "ready": self.ready,
            "failed": self.failed,
            "waiting": self.waiting,
            "per_minute": None if self.per_minute is None else round(self.per_minute, 2),
            "seconds_left": None if self.seconds_left is None else round(self.seconds_left),
            "done": self.done,
            "text": self.text,
        }


def summarize(
    total: int,
    ready: int,
    failed: int,
    finished: Sequence[datetime],
    now: datetime,
    model_waiting: bool = False,
) -> EmbeddingProgress:
    """The progress line from counts and recent finish times (no database)."""
    waiting = max(0, total - ready - failed)
    rate = embedding_rate(finished, now) if waiting else None
    seconds = waiting / rate if rate else None
    parts = [f"{ready} of {plural(total, 'image')} embedded"]
    if failed:
        parts.append(f"{failed} failed")
    if waiting:
        if model_waiting:
            parts.append("waiting for the model")
        elif seconds is None:
            parts.append("estimating the time left…")
        else:
            parts.append(time_left_text(seconds))
    return EmbeddingProgress(
        total=total,
        ready=ready,
        failed=failed,
        waiting=waiting,
        per_minute=None if rate is None else rate * 60,
        seconds_left=seconds,
        text=" · ".join(parts),
    )


def embedding_progress(
    project: Project, counts: dict[str, int], model_waiting: bool = False
) -> EmbeddingProgress:
    """The project's progress; `counts` are `project_counts(project)` (already fetched
    by the page). Reads finish times only while images are still waiting."""
    now = timezone.now()
    waiting = counts["images"] - counts["embedded"] - counts["embedding_failed"]
    finished: list[datetime] = []
    if waiting > 0:
        recent = (
            Image.objects.filter(project=project, embedded_at__gte=now - RATE_WINDOW)
            .order_by("-embedded_at")
            .values_list("embedded_at", flat=True)[:RATE_SAMPLE]
        )
        finished = [t for t in recent if t is not None]
    return summarize(
        counts["images"],
        counts["embedded"],
        counts["embedding_failed"],
        finished,
        now,
        model_waiting,
    )
