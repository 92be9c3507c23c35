"""An admin adopts a tuned version on the Model versions page, then rolls back."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from labeling.model_versions import ModelVersion
from labeling.models import Project
from labeling.services.projects import do_create_project
from tests.browser.test_upload_flow import log_in
from tests.conftest import drain_queue, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def figures(miou1: float, noc85: float) -> dict[str, Any]:
    return {"miou1": miou1, "noc85": noc85, "noc90": noc85 + 1, "instances": 12}


def test_an_admin_adopts_a_version_and_rolls_back(
    page: Any, live_server: Any, settings: Any
) -> None:
    drain_queue(settings.CELERY_QUEUE_TRAINING)
    owner = make_user("ada")
    project = do_create_project(owner, name="Shapes")
    for number, tuned in ((1, 0.61), (2, 0.74)):
        ModelVersion.objects.create(
            project=project,
            number=number,
            base_spec=project.model_spec,
            decoder_file=f"model_versions/{project.pk}/v{number}.safetensors",
            created_by=owner,
            metrics={"base": figures(0.42, 9.5), "tuned": figures(tuned, 6.0)},
        )
    log_in(page, live_server.url, "ada")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.get_by_role("link", name="Model versions").click()
    expect(page.locator("#adopted-model")).to_contain_text("the base model")
    row = page.locator('#model-versions tr[data-version="2"]')
    expect(row).to_contain_text("0.420 → 0.740")  # both sets of held-out figures
    row.get_by_role("button", name="Adopt").click()
    expect(page.get_by_text("The project now decodes with version 2.")).to_be_visible()
    expect(page.locator("#adopted-model")).to_contain_text("version 2")
    expect(row).to_contain_text("in use")
    assert (
        Project.objects.get(pk=project.pk).adopted_version_id
        == project.model_versions.get(number=2).pk
    )
    page.get_by_role("button", name="Roll back to the base").click()
    expect(page.get_by_text("The project now decodes with the base model.")).to_be_visible()
    expect(page.locator('#model-versions tr[data-version="base"]')).to_contain_text("in use")
    assert Project.objects.get(pk=project.pk).adopted_version is None
    # Starting a run from the form queues it, shown with its Cancel button.
    page.get_by_label("Time budget (seconds)").fill("60")
    page.get_by_role("button", name="Train").click()
    expect(page.locator("#training-runs tr[data-status='queued'] .state")).to_have_text("queued")
    assert [name for name, _ in drain_queue(settings.CELERY_QUEUE_TRAINING)] == [
        "labeling.tasks.run_training"
    ]
