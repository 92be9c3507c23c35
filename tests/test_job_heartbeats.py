"""Jobs that outlive their workers: a job row whose worker died does not stay
"running" for good. It is queued again once, then failed with the reason."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from labeling.coco_export import ExportOptions
from labeling.jobs import job_sweep
from labeling.models import Export, JobStatus
from labeling.queueing import RUN_EXPORT
from labeling.services.exports import do_start_export
from labeling.services.projects import do_create_project
from tests.conftest import drain_queue, make_user
from tests.worker_process import Worker, wait_until

OPTIONS = ExportOptions(("approved",), "rle", True, False)
STALE_S = 3


def export_for(name: str) -> Export:
    owner = make_user(name)
    project = do_create_project(owner, name=f"{name} project")
    return do_start_export(project, owner, OPTIONS)


def aged(export: Export, status: str, *, beat_s_ago: float | None, runs: int) -> None:
    beat = None if beat_s_ago is None else timezone.now() - timedelta(seconds=beat_s_ago)
    Export.objects.filter(pk=export.pk).update(status=status, heartbeat_at=beat, runs=runs)


@pytest.mark.django_db
class TestSweep:
    @pytest.fixture(autouse=True)
    def _short(self, settings: Any) -> Iterator[None]:
        settings.ANYMASK_JOB_STALE_SECONDS = STALE_S
        queue = settings.CELERY_QUEUE_DEFAULT
        drain_queue(queue)
        yield
        drain_queue(queue)

    def test_it_queues_a_dead_workers_job_again(self, settings: Any) -> None:
        export = export_for("owner")
        aged(export, JobStatus.RUNNING, beat_s_ago=STALE_S + 5, runs=1)
        assert job_sweep.sweep() == 1
        row = Export.objects.get(pk=export.pk)
        assert row.status == JobStatus.QUEUED and row.done == 0
        assert drain_queue(settings.CELERY_QUEUE_DEFAULT) == [(RUN_EXPORT, [export.pk])]

    def test_it_fails_a_job_that_killed_its_worker_twice_with_the_reason(self) -> None:
        export = export_for("owner")
        aged(export, JobStatus.RUNNING, beat_s_ago=STALE_S + 5, runs=job_sweep.MAX_RUNS)
        assert job_sweep.sweep() == 1
        row = Export.objects.get(pk=export.pk)
        assert row.status == JobStatus.FAILED and row.finished_at is not None
        assert row.error.startswith("The worker stopped while running this job")

    def test_it_leaves_a_job_with_a_live_heartbeat_alone(self, settings: Any) -> None:
        export = export_for("owner")
        aged(export, JobStatus.RUNNING, beat_s_ago=0.5, runs=1)
        assert job_sweep.sweep() == 0
        assert Export.objects.get(pk=export.pk).status == JobStatus.RUNNING

    def test_it_leaves_finished_jobs_alone(self) -> None:
        for status in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELED):
            aged(export_for(f"owner-{status}"), status, beat_s_ago=600, runs=1)
        assert job_sweep.sweep() == 0
        assert not Export.objects.filter(status__in=[JobStatus.RUNNING, JobStatus.QUEUED])

    def test_it_sends_a_queued_job_whose_task_was_lost_once_per_interval(
        self, settings: Any
    ) -> None:
        settings.ANYMASK_EMBEDDING_REQUEUE_SECONDS = 5
        export = export_for("owner")
        drain_queue(settings.CELERY_QUEUE_DEFAULT)  # the broker lost it
        Export.objects.filter(pk=export.pk).update(
            created_at=timezone.now() - timedelta(seconds=30)
        )
        assert job_sweep.sweep() == 1
        assert drain_queue(settings.CELERY_QUEUE_DEFAULT) == [(RUN_EXPORT, [export.pk])]
        assert job_sweep.sweep() == 0  # sent just now: not again until the interval passes


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_worker_is_killed_is_finished_by_another_worker(tmp_path: Path) -> None:
    quick = {
        "ANYMASK_JOB_HEARTBEAT_SECONDS": "1",
        "ANYMASK_JOB_STALE_SECONDS": str(STALE_S),
        "ANYMASK_JOB_SWEEP_SECONDS": "1",
    }
    media = tmp_path / "media"
    media.mkdir()
    slow = {**quick, "ANYMASK_TEST_JOB_DELAY_MS": "120000"}
    victim = Worker(media, tmp_path / "victim.log", pool="solo", env=slow)
    rescuer = Worker(media, tmp_path / "rescuer.log", pool="solo", env=quick)
    victim.start()
    try:
        export = export_for("owner")
        wait_until(lambda: row(export).status == JobStatus.RUNNING, "the job", victim)
        first = row(export).heartbeat_at
        assert first is not None
        wait_until(lambda: row(export).heartbeat_at != first, "a heartbeat", victim, 10)
        assert victim.process is not None
        os.kill(victim.process.pid, signal.SIGKILL)
        victim.process.wait()
        killed = time.monotonic()
        rescuer.start()
        wait_until(lambda: row(export).status == JobStatus.DONE, "the re-run", rescuer, 90)
        recovered = time.monotonic() - killed
    finally:
        victim.stop()
        rescuer.stop()
    final = row(export)
    assert final.runs == 2 and final.file  # the killed run, then the one that finished
    assert "queued again" in (tmp_path / "rescuer.log").read_text()
    assert recovered < 60  # stale after 3 s, a sweep a second: seconds, not never


def row(export: Export) -> Export:
    return Export.objects.get(pk=export.pk)
