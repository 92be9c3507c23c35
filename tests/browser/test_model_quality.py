"""Model quality in the browser: an admin runs evaluations with a real worker,
watches them finish, reads the figures and compares two runs; a reviewer sees
them; an annotator is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from playwright.sync_api import expect

from inference.masks import rle_encode
from labeling.evaluation_models import EvaluationRun
from labeling.models import AnnotationStatus, Membership, Role
from labeling.services.annotation_bulk import NewMask, do_create_annotations_bulk
from labeling.services.projects import do_create_project
from labeling.services.uploads import do_add_image
from tests.browser.test_upload_flow import log_in
from tests.conftest import PASSWORD, drain_queue, make_user
from tests.live_server import AsgiServer
from tests.test_embedding_worker import picture
from tests.worker_process import Worker

pytestmark = pytest.mark.django_db(transaction=True)

# Two clicks per object: each is a full-size decoder pass on a CPU, and the page's
# behaviour is the same for any budget.
BUDGET = {"ANYMASK_EVALUATION_MAX_CLICKS": "2"}


@pytest.fixture(scope="module")
def quality_stack(
    django_db_setup: None,
    django_db_blocker: Any,
    shared_media: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[AsgiServer, Worker]]:
    """The ASGI server and a worker, both with the small click budget."""
    logs = tmp_path_factory.mktemp("logs")
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)
    drain_queue(settings.CELERY_QUEUE_DEFAULT)
    server = AsgiServer(shared_media, logs / "server.log", env=BUDGET)
    worker = Worker(shared_media, logs / "worker.log", env=BUDGET)
    worker.start()
    server.start()
    yield server, worker
    server.stop()
    worker.stop()


def person(name: str) -> Any:
    # The ASGI server process checks passwords with the real hasher.
    user = make_user(name)
    user.password = make_password(PASSWORD, hasher=PBKDF2PasswordHasher())
    user.save(update_fields=["password"])
    return user


def labeled_project(tiny_sam: str) -> Any:
    owner, reviewer, annotator = person("quinn"), person("rhea"), person("abe")
    project = do_create_project(owner, name="Quality")
    project.model_spec = tiny_sam
    project.save()
    Membership.objects.create(project=project, user=reviewer, role=Role.REVIEWER)
    Membership.objects.create(project=project, user=annotator, role=Role.ANNOTATOR)
    masks = []
    for i in range(2):
        image = do_add_image(project, owner, picture(40 + i), f"{i}.png")
        shape = np.zeros((240, 320), bool)
        shape[40 + 10 * i : 160, 60 : 200 + 20 * i] = True
        masks.append(NewMask(image.pk, rle_encode(shape), None))
    do_create_annotations_bulk(
        project.pk, masks, owner, source="manual", status=AnnotationStatus.APPROVED
    )
    return project


def start_run(page: Any) -> None:
    page.get_by_label("Images").select_option("all")
    page.get_by_role("button", name="Start evaluation").click()
    expect(page.get_by_text(re.compile(r"Evaluation \d+ of base .* started"))).to_be_visible()


def test_an_admin_evaluates_and_compares_a_reviewer_sees_an_annotator_is_refused(
    page: Any,
    browser: Any,
    quality_stack: tuple[AsgiServer, Worker],
    tiny_sam: str,
    shared_media: Path,
    settings: Any,
) -> None:
    settings.MEDIA_ROOT = str(shared_media)
    server, _worker = quality_stack
    project = labeled_project(tiny_sam)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, server.url, "quinn")
    page.goto(f"{server.url}/projects/{project.pk}/")
    page.get_by_role("link", name="Model quality").click()
    expect(page.get_by_role("heading", name="Model quality")).to_be_visible()
    start_run(page)
    runs = page.locator("#runs tbody tr")
    # The page polls the run while the worker embeds the images and simulates the
    # clicks, then shows its figures.
    expect(runs.first.locator(".state")).to_have_text("done", timeout=180_000)
    expect(runs.first.locator(".count")).to_have_text("2/2")
    expect(runs.first.locator('[data-metric="noc90"]')).not_to_have_text("—")
    start_run(page)
    expect(runs.first.locator(".state")).to_have_text("done", timeout=120_000)
    first, second = EvaluationRun.objects.order_by("pk")
    assert first.metrics["instances"] == 2 and first.max_clicks == 2
    page.get_by_label(f"Compare run {first.pk} as A").check()
    page.get_by_label(f"Compare run {second.pk} as B").check()
    page.get_by_role("button", name="Compare A and B").click()
    comparison = page.locator("#comparison")
    expect(comparison).to_contain_text(f"Run #{first.pk} against run #{second.pk}")
    # The same model on the same masks: every figure agrees, each delta is 0.
    row = comparison.locator('tr[data-figure="miou1"]')
    expect(row.locator("td").nth(0)).to_have_text(str(first.metrics["miou1"]))
    expect(row.locator("td").nth(2)).to_have_text("0.0")
    # One run's figures, and its worst instance opens on the labeling page, selected.
    page.get_by_role("link", name=f"#{first.pk}").click()
    detail = page.locator("#run-detail")
    expect(detail.locator('[data-metric="instances"]')).to_have_text("2")
    worst = first.worst[0]
    detail.locator("#worst a").first.click()
    app = page.locator("#label-app")
    expect(app).to_have_attribute("data-ready", "true")
    expect(app).to_have_attribute("data-selected", str(worst["annotation"]))
    assert not errors, errors

    reviewer = browser.new_context().new_page()
    log_in(reviewer, server.url, "rhea")
    reviewer.goto(f"{server.url}/projects/{project.pk}/quality/")
    expect(reviewer.locator("#runs tbody tr")).to_have_count(2)
    expect(reviewer.get_by_role("button", name="Start evaluation")).to_have_count(0)

    annotator = browser.new_context().new_page()
    log_in(annotator, server.url, "abe")
    annotator.goto(f"{server.url}/projects/{project.pk}/")
    expect(annotator.get_by_role("link", name="Images")).to_be_visible()
    expect(annotator.get_by_role("link", name="Model quality")).to_have_count(0)
    response = annotator.goto(f"{server.url}/projects/{project.pk}/quality/")
    assert response is not None and response.status == 403
