"""The first download of a model, as the project page shows it: a progress bar with
bytes and a rough time left, taken from huggingface_hub's own progress reporting,
and images waiting for the model; and a web process warming up at start, as the
labeling page shows it. The hub is a local stand-in (tests/fake_hub.py)
serving a tiny checkpoint slowly, to a real worker with an empty hub cache."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.test_model_status import project_on
from tests.browser.test_upload_flow import log_in
from tests.conftest import drain_queue
from tests.fake_hub import FakeHub
from tests.live_server import AsgiServer
from tests.test_first_run import REPO, hub_checkpoint
from tests.worker_process import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_script_errors")]


@pytest.fixture
def slow_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeHub]:
    checkpoint = hub_checkpoint(tmp_path_factory.mktemp("hub") / "ckpt", padding_mb=40)
    with FakeHub(REPO, checkpoint, bytes_per_second=5e6) as hub:  # ~10 s for 51 MB
        yield hub


@pytest.fixture
def downloading_worker(
    settings: Any, tmp_path: Path, slow_hub: FakeHub, django_db_setup: None
) -> Iterator[Worker]:
    """A worker whose hub is the stand-in, with an empty hub cache (a new machine)."""
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)
    env = {"HF_ENDPOINT": slow_hub.url, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0"}
    worker = Worker(Path(settings.MEDIA_ROOT), tmp_path / "worker.log", env=env)
    yield worker
    worker.stop()


def test_the_first_download_shows_a_progress_bar_and_images_wait_for_the_model(
    page: Any, live_server: Any, downloading_worker: Worker, slow_hub: FakeHub
) -> None:
    project, images = project_on(REPO, images=2, asgi=False)  # the WSGI live_server
    log_in(page, live_server.url, "fay")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    downloading_worker.start()
    banner = page.locator("#model-banner")
    expect(banner).to_have_attribute("data-state", "downloading", timeout=60_000)
    expect(banner).to_contain_text(f"Downloading the model {REPO}")
    bar = banner.locator("progress")
    expect(bar).to_be_visible()
    # Part-way: some bytes of the whole, and a rough time left.
    page.wait_for_function(
        "() => { const p = document.querySelector('#model-banner progress');"
        " return p.value > 0 && p.value < p.max; }",
        timeout=30_000,
    )
    assert int(bar.get_attribute("max") or 0) == slow_hub.total_bytes
    figures = banner.locator('[data-part="figures"]')
    expect(figures).to_have_text(re.compile(r"^[\d.]+ MB of [\d.]+ MB, about \d+ s left$"))
    badge = page.locator(f'[data-image-id="{images[0].pk}"] [data-field="embedding"]')
    expect(badge).to_have_text("waiting for the model")
    # Then the model is here: the banner goes, the images are encoded.
    expect(badge).to_have_text("embedding ready", timeout=90_000)
    expect(banner).to_be_hidden()


def test_a_web_process_warming_up_says_so_on_the_labeling_page(
    page: Any, settings: Any, tmp_path: Path, slow_hub: FakeHub
) -> None:
    project, (image,) = project_on(REPO)
    env = {"HF_ENDPOINT": slow_hub.url, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0"}
    server = AsgiServer(Path(settings.MEDIA_ROOT), tmp_path / "server.log", lifespan=True, env=env)
    server.start()  # its warm start fetches the model from the (slow) hub at once
    try:
        log_in(page, server.url, "fay")
        page.goto(f"{server.url}/projects/{project.pk}/images/{image.pk}/label/")
        expect(page.locator("#label-app")).to_have_attribute("data-ready", "true")
        banner = page.locator("#model-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text(re.compile(f"(Downloading|Loading) the model {REPO}"))
        assert not _ready(server.url)
        # Warm: the banner goes by itself, and /readyz says so.
        expect(banner).to_be_hidden(timeout=90_000)
        assert _ready(server.url), server.log_tail()
    finally:
        server.stop()


def _ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
            return bool(json.loads(response.read())["ready"])
    except urllib.error.HTTPError:
        return False
