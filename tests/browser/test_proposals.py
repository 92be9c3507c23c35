"""An admin starts machine proposals from the project page and cancels them."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from labeling.models import ProposalJob
from labeling.services.projects import do_create_project
from labeling.services.uploads import do_add_image
from labeling.tasks import run_proposals
from tests.browser.test_upload_flow import log_in
from tests.conftest import drain_queue, make_user
from tests.test_embedding_worker import picture

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_admin_cancels_a_proposal_job(page: Any, live_server: Any, settings: Any) -> None:
    drain_queue(settings.CELERY_QUEUE_AUTOMATIC)  # nothing queued by earlier tests
    owner = make_user("gus")
    project = do_create_project(owner, name="Proposals")
    for i in range(2):
        do_add_image(project, owner, picture(20 + i), f"{i}.png")
    log_in(page, live_server.url, "gus")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.get_by_text("Machine proposals").click()
    page.get_by_role("button", name="Propose for every image").click()
    # No worker runs here: the job waits in the queue, and Cancel is offered.
    job = page.locator("#proposal-jobs li").first
    expect(job.locator(".state")).to_have_text("queued")
    job.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("Proposals canceled with 0 of 2 images done;")).to_be_visible()
    expect(job.locator(".state")).to_have_text("canceled")
    expect(job.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(job.locator(".error")).to_contain_text("Canceled.")
    assert ProposalJob.objects.get().status == "canceled"
    # The queued task finds the job canceled and does nothing.
    queued = drain_queue(settings.CELERY_QUEUE_AUTOMATIC)
    assert [run_proposals(*args) for _, args in queued] == ["not queued"]
