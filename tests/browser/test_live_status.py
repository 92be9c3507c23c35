"""The project page shows embedding progress without a reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from inference.testing import save_tiny_sam
from labeling.services.projects import do_create_project
from labeling.services.uploads import do_add_image
from tests.browser.test_upload_flow import log_in
from tests.conftest import drain_queue, make_user
from tests.test_embedding_worker import picture
from tests.worker_process import Worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def idle_worker(settings: Any, tmp_path: Path, django_db_setup: None) -> Iterator[Worker]:
    """A worker the test starts when it is ready for it."""
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)
    worker = Worker(Path(settings.MEDIA_ROOT), tmp_path / "worker.log")
    yield worker
    worker.stop()


def test_embedding_status_reaches_the_open_project_page(
    page: Any, live_server: Any, idle_worker: Worker, tmp_path: Path
) -> None:
    owner = make_user("fay")
    project = do_create_project(owner, name="Live")
    project.model_spec = str(save_tiny_sam(tmp_path / "tiny-sam"))
    project.save()
    image = do_add_image(project, owner, picture(11), "a.png")
    log_in(page, live_server.url, "fay")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    badge = page.locator(f'[data-image-id="{image.pk}"] [data-field="embedding"]')
    expect(badge).to_have_text("embedding pending")
    idle_worker.start()  # only now does anyone compute the embedding
    expect(badge).to_have_text("embedding ready", timeout=60_000)
    expect(page.locator('[data-count="embedded"]')).to_have_text("1")
