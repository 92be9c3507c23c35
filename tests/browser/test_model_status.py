"""What a first run shows about an unavailable model: why, and how to fix it, on the
project and labeling pages (a click there is answered at once, never a spinner),
and the first download's progress (test_model_download.py). Real server and worker."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from playwright.sync_api import expect

from labeling.models import EmbeddingStatus, Image, Project
from labeling.services.projects import do_create_project
from labeling.services.uploads import do_add_image
from tests.browser.test_labeling import click_image, grey_picture
from tests.browser.test_upload_flow import log_in
from tests.conftest import PASSWORD, make_user
from tests.live_server import AsgiServer
from tests.worker_process import Worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_script_errors")]

MISSING = "/srv/models/missing-sam"


def project_on(spec: str, images: int = 1, *, asgi: bool = True) -> tuple[Project, list[Image]]:
    owner = make_user("fay")
    if asgi:  # the ASGI server process uses the real hashers, not the tests' fast MD5
        owner.password = make_password(PASSWORD, hasher=PBKDF2PasswordHasher())
        owner.save(update_fields=["password"])
    project = do_create_project(owner, name="First run")
    project.model_spec = spec  # set directly, as an operator's setting would
    project.save()
    added = [
        do_add_image(project, owner, grey_picture((320 + i, 240)), f"street-{i}.png")
        for i in range(images)
    ]
    return project, added


def test_an_unavailable_model_is_explained_on_both_pages_and_a_click_says_why(
    page: Any, server: AsgiServer, worker: Worker
) -> None:
    project, (image,) = project_on(MISSING)
    wait_until(
        lambda: Image.objects.get(pk=image.pk).embedding_status == EmbeddingStatus.FAILED,
        "the embedding to fail",
        worker,
    )
    log_in(page, server.url, "fay")
    page.goto(f"{server.url}/projects/{project.pk}/")
    banner = page.locator("#model-banner")
    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("role", "alert")
    expect(banner).to_contain_text("is unavailable")
    expect(banner).to_contain_text(f"{MISSING!r} is neither a known model")
    commands = banner.locator("pre code")
    expect(commands).to_contain_text(f"ls {MISSING}")
    expect(commands).to_contain_text("make embed-missing")

    page.goto(f"{server.url}/projects/{project.pk}/images/{image.pk}/label/")
    app = page.locator("#label-app")
    expect(app).to_have_attribute("data-ready", "true")
    expect(page.locator("#connection-status")).to_have_text("Connected")
    expect(page.locator("#model-banner")).to_contain_text("is neither a known model")
    click_image(page, 160, 160)
    message = page.locator("#message")
    expect(message).to_contain_text("No masks for this image", timeout=5_000)
    expect(message).to_contain_text("neither a known model")
    expect(app).to_have_attribute("data-busy", "false")  # no "Computing mask…" spinner
