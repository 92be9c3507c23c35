"""The workers' sweep, on the real database and broker (a directory locally, Redis
in CI): what it re-queues, and what it must leave alone.

The sweep inside real worker processes (killed workers, lost tasks, an outage at
upload) is tested in tests/test_faults_embedding.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from labeling.jobs.embedding_sweep import sweep
from labeling.models import EmbeddingStatus, Image
from labeling.queueing import COMPUTE_EMBEDDING, enqueue
from tests.conftest import Personas, drain_queue, image_row

LONG_AGO = timedelta(hours=1)


def queued_ids(queue: str) -> list[int]:
    return [args[0] for name, args in drain_queue(queue) if name == COMPUTE_EMBEDDING]


def test_it_leaves_a_pending_image_alone_while_a_task_waits_in_the_queue(
    personas: Personas, embedding_queue: str
) -> None:
    image = image_row(personas.project, 1)
    Image.objects.filter(pk=image.pk).update(embedding_queued_at=timezone.now() - LONG_AGO)
    enqueue(COMPUTE_EMBEDDING, image.pk)  # its task waits behind a long backlog
    assert sweep() == 0
    assert queued_ids(embedding_queue) == [image.pk]


def test_it_requeues_an_overdue_pending_image_once_nothing_waits(
    personas: Personas, embedding_queue: str
) -> None:
    lost = image_row(personas.project, 1)
    recent = image_row(personas.project, 2)  # queued a moment ago: give it time
    Image.objects.filter(pk=lost.pk).update(embedding_queued_at=timezone.now() - LONG_AGO)
    assert sweep() == 1
    assert queued_ids(embedding_queue) == [lost.pk]
    requeued_at = Image.objects.get(pk=lost.pk).embedding_queued_at
    assert requeued_at is not None and requeued_at > timezone.now() - LONG_AGO
    assert sweep() == 0  # queued again just now: not again at the next sweep
    assert Image.objects.get(pk=recent.pk).embedding_status == EmbeddingStatus.PENDING


def test_it_requeues_an_image_that_was_never_queued_even_behind_a_backlog(
    personas: Personas, embedding_queue: str
) -> None:
    never = image_row(personas.project, 1)
    Image.objects.filter(pk=never.pk).update(embedding_queued_at=None)  # the broker was down
    other = image_row(personas.project, 2)
    enqueue(COMPUTE_EMBEDDING, other.pk)
    assert sweep() == 1
    assert sorted(queued_ids(embedding_queue)) == sorted([other.pk, never.pk])
    assert Image.objects.get(pk=never.pk).embedding_queued_at is not None


def test_it_requeues_the_image_of_a_dead_worker_and_spares_a_live_one(
    personas: Personas, embedding_queue: str
) -> None:
    now = timezone.now()
    dead = image_row(personas.project, 1)
    live = image_row(personas.project, 2)
    legacy = image_row(personas.project, 3)  # "running" from before leases existed
    Image.objects.filter(pk=dead.pk).update(
        embedding_status=EmbeddingStatus.RUNNING,
        embedding_lease_owner="gpu-1:123:abc",
        embedding_lease_expires=now - timedelta(seconds=5),
    )
    Image.objects.filter(pk=live.pk).update(
        embedding_status=EmbeddingStatus.RUNNING,
        embedding_lease_owner="gpu-2:456:def",
        embedding_lease_expires=now + timedelta(seconds=60),
        embedding_queued_at=now - LONG_AGO,
    )
    Image.objects.filter(pk=legacy.pk).update(embedding_status=EmbeddingStatus.RUNNING)
    assert sweep() == 2
    assert sorted(queued_ids(embedding_queue)) == sorted([dead.pk, legacy.pk])
    freed = Image.objects.get(pk=dead.pk)
    assert freed.embedding_status == EmbeddingStatus.PENDING
    assert freed.embedding_lease_owner == "" and freed.embedding_lease_expires is None
    kept = Image.objects.get(pk=live.pk)
    assert kept.embedding_status == EmbeddingStatus.RUNNING
    assert kept.embedding_lease_owner == "gpu-2:456:def"


def test_it_leaves_a_retry_that_is_not_due_yet_and_images_that_are_done(
    personas: Personas, embedding_queue: str, settings: Any
) -> None:
    waiting_retry = image_row(personas.project, 1)
    Image.objects.filter(pk=waiting_retry.pk).update(
        embedding_queued_at=timezone.now() + timedelta(minutes=5),
        embedding_error="Will retry in 300 s: disk full",
    )
    for index, status in enumerate((EmbeddingStatus.READY, EmbeddingStatus.FAILED), start=2):
        done = image_row(personas.project, index)
        Image.objects.filter(pk=done.pk).update(
            embedding_status=status, embedding_queued_at=timezone.now() - LONG_AGO
        )
    assert sweep() == 0
    assert queued_ids(embedding_queue) == []
