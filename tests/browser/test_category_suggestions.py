"""Category suggestions on the labeling page, in a real Chromium against the real
server: once the project's classifier is trained, a candidate arrives with its
suggested category pre-selected and the confidence shown; a category the annotator
picks for the mask stands; accepting saves the category on show."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import expect

from inference.masks import rle_encode
from labeling.models import Annotation, Category, Project
from labeling.services.annotations import do_create_annotation
from labeling.services.classifier import do_request_training
from labeling.tasks import train_classifier
from tests.browser.test_labeling import SLOW, click_image, labeled_project, open_label_page
from tests.live_server import AsgiServer
from tests.worker_process import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_script_errors")]


def train_on_approved_squares(project: Project) -> None:
    """Approved "car" squares on the left and "tree" squares on the right of each
    image, then the real training job (in this process, on the shared storage)."""
    car, tree = Category.objects.filter(project=project).order_by("order")
    for image in project.images.all():
        for category, left in ((car, 20), (tree, 200)):
            for top in (20, 120):
                mask = np.zeros((image.height, image.width), bool)
                mask[top : top + 80, left : left + 90] = True
                do_create_annotation(
                    image, None, rle=rle_encode(mask), source="sam", category_id=category.pk,
                    status="approved",
                )  # fmt: skip
    assert do_request_training(project, None)
    assert train_classifier(project.pk) == "trained"
    project.refresh_from_db()
    assert project.category_head


def test_a_candidate_arrives_with_its_suggested_category_pre_selected(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, images = labeled_project(tiny_sam, worker, images=3)
    train_on_approved_squares(project)
    names = dict(Category.objects.filter(project=project).values_list("pk", "name"))
    app = open_label_page(page, server, project, images[0])
    picker, note = page.locator("#category"), page.locator("#suggestion")
    expect(note).to_be_hidden()
    picker.select_option("")  # no category chosen: only the suggestion can fill it in

    click_image(page, 60, 60)
    expect(app).not_to_have_attribute("data-mask-area", "0", timeout=SLOW)
    expect(note).to_be_visible()
    expect(note).to_have_text(re.compile(r"^Suggested: (car|tree) \d{1,3}%$"))
    suggested = int(app.get_attribute("data-suggestion") or 0)
    assert suggested in names
    expect(picker).to_have_value(str(suggested))  # pre-selected
    expect(note).to_contain_text(names[suggested])

    # Cycling the candidates shows each one's own suggestion, still pre-selected.
    page.keyboard.press("Tab")
    expect(picker).to_have_value(app.get_attribute("data-suggestion") or "")

    # The annotator picks the other category for this mask: refining keeps it.
    other = next(pk for pk in names if pk != int(picker.input_value()))
    picker.select_option(str(other))
    click_image(page, 70, 70)
    page.wait_for_function("() => document.getElementById('label-app').dataset.busy === 'false'")
    expect(picker).to_have_value(str(other))
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_contain_text("Saved", timeout=SLOW)
    saved = Annotation.objects.filter(image=images[0], created_by__username="fay").get()
    assert saved.category_id == other

    # The next mask is pre-selected with its suggestion again.
    click_image(page, 250, 60)
    expect(note).to_be_visible(timeout=SLOW)
    page.wait_for_function("() => document.getElementById('label-app').dataset.busy === 'false'")
    expect(picker).to_have_value(app.get_attribute("data-suggestion") or "")
