"""Image counts per project and status that cost the same at 20 images as at 20,000.

The project page and its status feed show how many images are labeled, reviewed,
embedded and failed, and page through a filtered grid; counting those rows is a
scan of the project's images on every open and every poll. Instead the database
keeps a tally: triggers on `labeling_image` (migration 0028) append a signed row
per (project, labeling status, embedding status) for every insert, delete and
status change, whatever made it (a save, a bulk update, a worker's claim, a
cascade). Appending, never updating one counter row, means no two writers ever
wait on each other's lock, so a counter can neither serialise the workers nor
deadlock them. Reading sums a project's rows; `compact` folds them back into one
row per status pair, on read once they pile up and in the workers' sweep.
"""

from __future__ import annotations

import logging

from django.db import connection, models, transaction

logger = logging.getLogger(__name__)

# A project's rows are folded into one per status pair once a read finds this many.
COMPACT_AFTER = 64


class ImageTally(models.Model):
    """A signed count of a project's images in one (labeling, embedding) status pair.
    Written only by the triggers and `compact`; `project_id` is a plain column, not a
    foreign key, because the triggers append rows while Django deletes a project's
    images, after it has gathered what to cascade (a project's rows then sum to 0 and
    `compact` drops them)."""

    project_id = models.BigIntegerField()
    labeling_status = models.CharField(max_length=16)
    embedding_status = models.CharField(max_length=16)
    delta = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["project_id"], name="image_tally_project")]

    def __str__(self) -> str:
        pair = f"{self.labeling_status}/{self.embedding_status}"
        return f"project {self.project_id} {pair}: {self.delta:+d}"


def tallies(project_id: int) -> dict[tuple[str, str], int]:
    """The project's image count per (labeling status, embedding status)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT labeling_status, embedding_status, SUM(delta), COUNT(*)"
            " FROM labeling_imagetally WHERE project_id = %s"
            " GROUP BY labeling_status, embedding_status",
            [project_id],
        )
        rows = cursor.fetchall()
    if sum(int(r[3]) for r in rows) >= COMPACT_AFTER:
        compact(project_id)
    return {(r[0], r[1]): int(r[2]) for r in rows if int(r[2])}


def compact(project_id: int) -> None:
    """Fold the project's rows into one per status pair (pairs summing to 0 go)."""
    if connection.vendor == "postgresql":
        # One statement: it deletes exactly the rows its snapshot sees and writes
        # their sums back, so rows the triggers append meanwhile are kept, and two
        # compactions at once cannot count a row twice (the second skips rows the
        # first deleted).
        with connection.cursor() as cursor:
            cursor.execute(
                "WITH gone AS (DELETE FROM labeling_imagetally WHERE project_id = %s"
                " RETURNING labeling_status, embedding_status, delta)"
                " INSERT INTO labeling_imagetally"
                " (project_id, labeling_status, embedding_status, delta)"
                " SELECT %s, labeling_status, embedding_status, SUM(delta) FROM gone"
                " GROUP BY labeling_status, embedding_status HAVING SUM(delta) <> 0",
                [project_id, project_id],
            )
        return
    # SQLite has one writer at a time: inside a transaction nothing is appended
    # between the read and the delete.
    with transaction.atomic():
        rows = list(
            ImageTally.objects.filter(project_id=project_id)
            .values_list("labeling_status", "embedding_status")
            .annotate(total=models.Sum("delta"))
        )
        ImageTally.objects.filter(project_id=project_id).delete()
        ImageTally.objects.bulk_create(
            ImageTally(project_id=project_id, labeling_status=ls, embedding_status=es, delta=n)
            for ls, es, n in rows
            if n
        )


def compact_all() -> int:
    """Compact every project with rows piled up (the workers' sweep); how many."""
    from labeling.models import EmbeddingStatus, LabelingStatus

    # Compacted, a project has at most one row per status pair.
    pairs = len(LabelingStatus) * len(EmbeddingStatus)
    crowded = list(
        ImageTally.objects.values_list("project_id", flat=True)
        .annotate(rows=models.Count("id"))
        .filter(rows__gt=pairs)
        .order_by()
    )
    for project_id in crowded:
        compact(project_id)
    return len(crowded)


def compact_and_log() -> None:
    """`compact_all` for a worker's periodic sweep: failures wait for the next one."""
    try:
        compacted = compact_all()
    except Exception as error:  # the database is down: next time
        logger.warning("image tally compaction failed: %s", error)
    else:
        if compacted:
            logger.info("compacted the image tallies of %s project(s)", compacted)
