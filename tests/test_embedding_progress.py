"""The project page's embedding progress: ready of total, failures, and a time left
measured from the recent rate of real embeddings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from inference.testing import save_tiny_sam
from labeling.jobs.embedding import embed_image
from labeling.models import Image
from labeling.services.embedding_progress import (
    RATE_WINDOW,
    embedding_rate,
    summarize,
    time_left_text,
)
from labeling.services.uploads import do_add_image
from tests.conftest import Personas, drain_queue
from tests.test_embedding_worker import picture

NOW = datetime(2026, 12, 2, 18, 40, tzinfo=UTC)


def finishes(*seconds_ago: float) -> list[datetime]:
    return [NOW - timedelta(seconds=s) for s in seconds_ago]


def test_the_rate_is_finishes_over_their_span() -> None:
    # Five finishes 10 s apart, the last just now: 4 intervals in 40 s.
    assert embedding_rate(finishes(40, 30, 20, 10, 0), NOW) == pytest.approx(0.1)
    # Order does not matter.
    assert embedding_rate(finishes(0, 20, 40, 10, 30), NOW) == pytest.approx(0.1)


def test_a_stalled_worker_slows_the_rate_instead_of_freezing_it() -> None:
    on_pace = embedding_rate(finishes(45, 35, 25, 15, 5), NOW)  # next one due in 5 s
    overdue = embedding_rate(finishes(100, 90, 80, 70, 60), NOW)  # 60 s since the last
    assert on_pace == pytest.approx(0.1)
    assert overdue == pytest.approx(5 / 100)  # 5 finishes over the 100 s since the first
    assert overdue is not None and on_pace is not None and overdue < on_pace


def test_too_few_or_too_old_finishes_give_no_rate() -> None:
    assert embedding_rate([], NOW) is None
    assert embedding_rate(finishes(3), NOW) is None
    assert embedding_rate(finishes(0, 0, 0), NOW) is None  # stored ones found at once
    old = RATE_WINDOW.total_seconds() + 5
    assert embedding_rate(finishes(old + 20, old + 10, 2), NOW) is None  # one recent
    assert embedding_rate(finishes(old, 20, 10, 0), NOW) == pytest.approx(0.1)


def test_time_left_reads_in_whole_minutes() -> None:
    assert time_left_text(12) == "less than a minute left"
    assert time_left_text(61) == "about 2 min left"
    assert time_left_text(60 * 45) == "about 45 min left"
    assert time_left_text(60 * 125) == "about 2 h 10 min left"
    assert time_left_text(3600 * 3) == "about 3 h left"
    # A few seconds' jitter between refreshes does not change the words.
    assert time_left_text(60 * 7 + 10) == time_left_text(60 * 7 + 40)


def test_the_summary_line() -> None:
    # 30 waiting at 0.1 per second: 300 s.
    line = summarize(40, 8, 2, finishes(40, 30, 20, 10, 0), NOW)
    assert line.text == "8 of 40 images embedded · 2 failed · about 5 min left"
    assert line.waiting == 30 and line.seconds_left == pytest.approx(300)
    assert line.per_minute == pytest.approx(6) and not line.done
    assert summarize(1, 0, 0, [], NOW).text == "0 of 1 image embedded · estimating the time left…"
    waiting = summarize(3, 0, 0, [], NOW, model_waiting=True)
    assert waiting.text == "0 of 3 images embedded · waiting for the model"
    finished = summarize(3, 2, 1, finishes(4, 2), NOW)
    assert finished.done and finished.seconds_left is None
    assert finished.text == "2 of 3 images embedded · 1 failed"


@pytest.mark.django_db(transaction=True)
def test_the_status_feed_measures_real_embeddings(
    personas: Personas, settings: Any, tmp_path: Any
) -> None:
    personas.project.model_spec = str(save_tiny_sam(tmp_path / "tiny-sam"))
    personas.project.save()
    images = [
        do_add_image(personas.project, personas.owner, picture(60 + i), f"{i}.png")
        for i in range(4)
    ]
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)  # this test embeds them itself
    member = personas.client("annotator")
    feed = f"/projects/{personas.project.pk}/status.json"
    start = member.get(feed).json()["embedding_progress"]
    assert start | {"text": ""} == {
        "total": 4, "ready": 0, "failed": 0, "waiting": 4, "per_minute": None,
        "seconds_left": None, "done": False, "text": "",
    }  # fmt: skip
    assert start["text"] == "0 of 4 images embedded · estimating the time left…"

    for image in images[:2]:  # two real encodes, one after the other
        assert embed_image(image.pk, retries=0, max_retries=3) == "computed"
    stamps = sorted(
        stamp
        for stamp in Image.objects.filter(pk__in=[i.pk for i in images[:2]]).values_list(
            "embedded_at", flat=True
        )
        if stamp is not None
    )
    assert len(stamps) == 2 and stamps[0] < stamps[1] <= timezone.now()
    halfway = member.get(feed).json()["embedding_progress"]
    assert (halfway["ready"], halfway["waiting"]) == (2, 2)
    assert halfway["per_minute"] > 0 and halfway["seconds_left"] >= 0
    assert halfway["text"].startswith("2 of 4 images embedded · ")
    assert halfway["text"].endswith(" left")
    page = member.get(f"/projects/{personas.project.pk}/").content.decode()
    assert 'id="embedding-progress"' in page and halfway["text"].split(" · ")[0] in page

    for image in images[2:]:
        embed_image(image.pk, retries=0, max_retries=3)
    done = member.get(feed).json()["embedding_progress"]
    assert done["done"] and done["seconds_left"] is None
    assert done["text"] == "4 of 4 images embedded"
    page = member.get(f"/projects/{personas.project.pk}/").content.decode()
    assert 'id="embedding-progress" role="status" aria-live="polite" hidden' in page


@pytest.mark.django_db(transaction=True)
def test_a_new_model_forgets_the_old_finish_times(personas: Personas, settings: Any) -> None:
    from labeling.services.projects import do_update_project

    image = do_add_image(personas.project, personas.owner, picture(70), "a.png")
    Image.objects.filter(pk=image.pk).update(embedding_status="ready", embedded_at=timezone.now())
    project = personas.project
    assert (
        do_update_project(
            project, name=project.name, description="", model_spec="sam2.1-hiera-tiny"
        )
        == 1
    )
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)  # never encoded: only the reset matters
    assert Image.objects.get(pk=image.pk).embedded_at is None
