"""Queue embeddings that are missing: never queued, lost with a broker, or failed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Q
from django.utils import timezone

from labeling.models import EmbeddingStatus, Image
from labeling.queueing import COMPUTE_EMBEDDING, enqueue
from labeling.wording import plural


class Command(BaseCommand):
    help = "Queue compute_embedding for every image whose embedding is not ready."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--project", type=int, help="only this project id")
        parser.add_argument(
            "--include-running",
            action="store_true",
            help="also images marked running (use when no worker is running, e.g. at start)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        statuses = [EmbeddingStatus.PENDING, EmbeddingStatus.FAILED]
        if options["include_running"]:
            statuses.append(EmbeddingStatus.RUNNING)
        images = Image.objects.filter(embedding_status__in=statuses)
        if options["project"]:
            images = images.filter(project_id=options["project"])
        # A failed image gets a fresh set of attempts: its cause may be fixed now.
        images.filter(Q(embedding_status=EmbeddingStatus.FAILED)).update(
            embedding_status=EmbeddingStatus.PENDING, embedding_error="", embedding_attempts=0
        )
        ids = list(images.values_list("id", flat=True))
        Image.objects.filter(pk__in=ids).update(embedding_queued_at=timezone.now())
        for image_id in ids:
            enqueue(COMPUTE_EMBEDDING, image_id)
        self.stdout.write(f"Queued {plural(len(ids), 'image')} for embedding.")
