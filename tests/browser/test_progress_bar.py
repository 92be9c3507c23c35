"""Long work shows its progress: the project page's embedding bar with time left,
while a real worker embeds, and a proposal run that finds nothing says why."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from labeling.models import Image
from labeling.queueing import COMPUTE_EMBEDDING, enqueue
from labeling.services.projects import do_create_project
from labeling.services.uploads import do_add_image
from tests.browser.test_upload_flow import log_in
from tests.conftest import drain_queue, make_user
from tests.test_embedding_worker import picture
from tests.worker_process import Worker

pytestmark = pytest.mark.django_db(transaction=True)

TIME_LEFT = re.compile(r"(less than a minute|about \d+ min) left")


@pytest.fixture
def slow_worker(settings: Any, tmp_path: Path, django_db_setup: None) -> Iterator[Worker]:
    """A worker, started by the test, that takes a few seconds per image, so the
    page has a rate to measure; a small grid for proposals."""
    for queue in (settings.CELERY_QUEUE_EMBEDDINGS, settings.CELERY_QUEUE_AUTOMATIC):
        drain_queue(queue)
    worker = Worker(
        Path(settings.MEDIA_ROOT),
        tmp_path / "worker.log",
        env={"ANYMASK_TEST_ENCODE_DELAY_MS": "2500", "ANYMASK_PROPOSAL_POINTS_PER_SIDE": "4"},
    )
    yield worker
    worker.stop()


def test_the_embedding_bar_moves_and_says_the_time_left(
    page: Any,
    live_server: Any,
    settings: Any,
    slow_worker: Worker,
    tiny_sam: str,
    no_script_errors: None,
) -> None:
    owner = make_user("ada")
    project = do_create_project(owner, name="Progress")
    project.model_spec = tiny_sam
    project.save()
    images = [do_add_image(project, owner, picture(80 + i), f"{i}.png") for i in range(6)]
    # One image failed for good before (what a worker records for an unreadable file);
    # the other five wait in the queue.
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)
    Image.objects.filter(pk=images[-1].pk).update(embedding_status="failed", embedding_error="x")
    for image in images[:-1]:
        enqueue(COMPUTE_EMBEDDING, image.pk)
    log_in(page, live_server.url, "ada")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    box = page.locator("#embedding-progress")
    bar = box.locator("progress")
    expect(box).to_have_text("0 of 6 images embedded · 1 failed · estimating the time left…")
    assert bar.get_attribute("value") == "0"

    slow_worker.start()  # only now does anyone encode
    # After two finishes the page knows the rate and says how long the rest takes;
    # text, bar and estimate are read at one instant, as the page drew them.
    snapshot = page.wait_for_function(
        """pattern => {
            const box = document.getElementById("embedding-progress");
            const text = box.querySelector(".text").textContent;
            if (!new RegExp(pattern).test(text)) return null;
            return {text, ready: box.querySelector("progress").value,
                    seconds: box.dataset.secondsLeft};
        }""",
        arg=TIME_LEFT.pattern,
        timeout=60_000,
    ).json_value()
    ready = snapshot["ready"]
    assert 2 <= ready < 5, snapshot
    assert snapshot["text"].startswith(f"{ready} of 6 images embedded · 1 failed · "), snapshot
    assert 0 <= float(snapshot["seconds"]) < 60 * 5, snapshot  # a few seconds per image
    # The bar keeps moving and disappears when nothing is left to embed.
    expect(box).to_be_hidden(timeout=60_000)
    assert bar.evaluate("bar => bar.value") == 5
    expect(page.locator('[data-count="embedded"]')).to_have_text("5")


def test_a_proposal_run_that_finds_nothing_says_why(
    page: Any, live_server: Any, slow_worker: Worker, tiny_sam: str, no_script_errors: None
) -> None:
    owner = make_user("bo")
    project = do_create_project(owner, name="Nothing here")
    project.model_spec = tiny_sam
    project.save()
    image = do_add_image(project, owner, picture(90), "street.png")
    log_in(page, live_server.url, "bo")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.get_by_text("Machine proposals").click()
    page.get_by_label("Predicted IoU ≥").fill("1")  # no mask can pass this
    page.get_by_role("button", name="Save filters").click()
    expect(page.get_by_text("Proposal filters saved.")).to_be_visible()
    page.get_by_text("Machine proposals").click()  # the saved page shows it closed
    page.get_by_label(f"Select {image.original_name}").check()
    page.get_by_role("button", name="Propose for the selected images").click()
    expect(page.get_by_text("Proposing masks for 1 image in the background.")).to_be_visible()
    slow_worker.start()
    job = page.locator("#proposal-jobs li").first
    expect(job.locator(".state")).to_have_text("done", timeout=90_000)
    # 4 x 4 clicks, 3 candidates each, all below the impossible IoU.
    expect(job.locator(".why")).to_have_text(
        "No proposals for street.png: all 48 candidates filtered out by predicted IoU ≤ 1"
    )
    expect(job.locator(".count")).to_have_text("1/1 image, 0 proposals")
