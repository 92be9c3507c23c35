"""The project dashboard: how far the project is, and what each annotator did.

The per-annotator figures tell a team how much SAM saves them: clicks per accepted
mask and time per image come from what the labeling page records when a mask is
accepted (`Annotation.clicks`, `Annotation.edit_seconds`); machine proposals and
imports are not anyone's work and are left out.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count

from labeling.models import (
    Annotation,
    AnnotationSource,
    AnnotationStatus,
    Image,
    LabelingStatus,
    Project,
)

HUMAN_SOURCES = (AnnotationSource.SAM, AnnotationSource.MANUAL)
# Masks a machine found and a person kept: automatic-mask proposals, and SAM 3
# instances (Find all proposals, and the labeling page's Find box accepts).
MACHINE_SOURCES = (AnnotationSource.AUTO, AnnotationSource.CONCEPT)


@dataclass(frozen=True)
class OriginStats:
    """Masks of one origin (pre-filled by machine proposals, or drawn by hand) and
    what they cost: the clicks recorded on them (accept and fixes for a proposal,
    prompts and strokes for a drawn mask)."""

    masks: int
    with_clicks: int
    median_clicks: float | None
    mean_clicks: float | None


def _origin(clicks: list[int], masks: int) -> OriginStats:
    return OriginStats(
        masks=masks,
        with_clicks=len(clicks),
        median_clicks=statistics.median(clicks) if clicks else None,
        mean_clicks=statistics.fmean(clicks) if clicks else None,
    )


def origin_stats(project: Project) -> dict[str, OriginStats]:
    """ "prefill": machine proposals someone accepted (source auto or concept, no
    longer proposed); "hand": masks drawn on the labeling page (SAM clicks, brush)."""
    rows = (
        Annotation.objects.filter(image__project=project)
        .filter(source__in=(*MACHINE_SOURCES, *HUMAN_SOURCES))
        .exclude(status=AnnotationStatus.PROPOSED)
        .values_list("source", "clicks")
    )
    counts = {"prefill": 0, "hand": 0}
    clicks: dict[str, list[int]] = {"prefill": [], "hand": []}
    for source, n_clicks in rows.iterator():
        origin = "prefill" if source in MACHINE_SOURCES else "hand"
        counts[origin] += 1
        if n_clicks is not None:
            clicks[origin].append(n_clicks)
    return {origin: _origin(clicks[origin], counts[origin]) for origin in counts}


@dataclass(frozen=True)
class AnnotatorStats:
    username: str
    masks: int
    approved: int
    rejected: int
    median_clicks: float | None  # per accepted SAM mask
    median_seconds_per_image: float | None

    @property
    def approval_rate(self) -> float | None:
        """Approved share of the masks a reviewer has decided on (None: none yet)."""
        reviewed = self.approved + self.rejected
        return self.approved / reviewed if reviewed else None


def progress(project: Project) -> dict[str, int]:
    """Images per labeling status, every status present (0 when none)."""
    rows = (
        Image.objects.filter(project=project)
        .values_list("labeling_status")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = dict.fromkeys(LabelingStatus.values, 0)
    counts.update({status: n for status, n in rows})
    return counts


def annotator_stats(project: Project) -> list[AnnotatorStats]:
    rows = Annotation.objects.filter(
        image__project=project, source__in=HUMAN_SOURCES, created_by__isnull=False
    ).values_list("created_by__username", "image_id", "status", "clicks", "edit_seconds")
    masks: dict[str, int] = defaultdict(int)
    decided: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    clicks: dict[str, list[int]] = defaultdict(list)
    seconds: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for username, image_id, status, n_clicks, edit_seconds in rows.iterator():
        masks[username] += 1
        decided[username][status] += 1
        if n_clicks is not None:
            clicks[username].append(n_clicks)
        if edit_seconds is not None:
            seconds[username][image_id] += edit_seconds
    return [
        AnnotatorStats(
            username=name,
            masks=masks[name],
            approved=decided[name][AnnotationStatus.APPROVED],
            rejected=decided[name][AnnotationStatus.REJECTED],
            median_clicks=statistics.median(clicks[name]) if clicks[name] else None,
            median_seconds_per_image=(
                statistics.median(seconds[name].values()) if seconds[name] else None
            ),
        )
        for name in sorted(masks)
    ]
