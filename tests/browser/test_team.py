"""The team scenario end to end, in three browser contexts on one project.

Two annotators press "Start labeling" and get different images, which the admin's
project page shows as theirs without a reload; after a submit, "next" hands out the
image neither holds. They meet on one image, see each
other there and each other's new masks; the admin's page counts move as they work.
The admin reviews (one mask rejected with a reason, the image approved), exports
COCO from the exports page, and the file holds exactly the approved masks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from playwright.sync_api import expect

from inference.masks import rle_decode, rle_encode
from labeling.models import Annotation, Export, Image, Membership, Role
from tests.browser.test_labeling import SLOW, click_image, labeled_project
from tests.browser.test_upload_flow import log_in
from tests.conftest import PASSWORD, make_user
from tests.live_server import AsgiServer
from tests.worker_process import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_script_errors")]


def annotator(project: Any, name: str) -> None:
    user = make_user(name)
    # The server process checks passwords with the real hashers.
    user.password = make_password(PASSWORD, hasher=PBKDF2PasswordHasher())
    user.save(update_fields=["password"])
    Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)


def image_in(url: str) -> int:
    found = re.search(r"/images/(\d+)/label/", url)
    assert found, url
    return int(found.group(1))


def accept_a_mask(page: Any, x: float, y: float, masks: int) -> None:
    app = page.locator("#label-app")
    click_image(page, x, y)
    expect(app).not_to_have_attribute("data-mask-area", "0", timeout=SLOW)
    page.keyboard.press("Enter")
    expect(page.locator(".ann:not(.saving)")).to_have_count(masks, timeout=SLOW)


def test_two_annotators_a_reviewer_and_an_export(
    page: Any, browser: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, images = labeled_project(tiny_sam, worker, images=3)
    annotator(project, "gus")
    annotator(project, "hal")
    base = f"{server.url}/projects/{project.pk}"
    log_in(page, server.url, "fay")  # fay is the admin: she watches, then reviews
    page.goto(f"{base}/")
    expect(page.locator("#counts")).to_have_attribute("data-live", "on")
    contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(2)]
    try:
        gus, hal = (context.new_page() for context in contexts)
        for who, tab in (("gus", gus), ("hal", hal)):
            log_in(tab, server.url, who)
            tab.goto(f"{base}/")
            tab.get_by_role("link", name="Start labeling").click()
            expect(tab.locator("#label-app")).to_have_attribute("data-ready", "true")
        gus_image, hal_image = (image_in(tab.url) for tab in (gus, hal))
        assert gus_image != hal_image and {gus_image, hal_image} <= {i.pk for i in images}
        for who, image_id in (("gus", gus_image), ("hal", hal_image)):
            claim = page.locator(f'[data-image-id="{image_id}"] [data-field="claim"]')
            expect(claim).to_have_text(f"✎ {who}")

        # hal comes to help on gus's image: each sees the other, and the other's masks.
        hal.goto(f"{base}/images/{gus_image}/label/")
        expect(hal.locator("#label-app")).to_have_attribute("data-ready", "true")
        expect(gus.locator("#presence")).to_have_text("Also here: hal")
        expect(hal.locator("#presence")).to_have_text("Also here: gus")
        accept_a_mask(gus, 160, 120, masks=1)
        expect(hal.locator(".ann")).to_have_count(1, timeout=SLOW)
        accept_a_mask(hal, 40, 30, masks=2)
        expect(gus.locator(".ann")).to_have_count(2, timeout=SLOW)
        status = page.locator(f'[data-image-id="{gus_image}"] [data-field="labeling"]')
        expect(status).to_have_text("In progress")

        gus.keyboard.press("Shift+Enter")  # submit: both drafts go to review
        # ...and his "next" hands him the one image nobody holds, not hal's.
        expect(gus).not_to_have_url(re.compile(rf"/images/{gus_image}/label/$"))
        third = {i.pk for i in images} - {gus_image, hal_image}
        assert image_in(gus.url) in third
        expect(status).to_have_text("Submitted")
        expect(page.locator('[data-count="labeled"]')).to_have_text("1")
    finally:
        for context in contexts:
            context.close()

    first, second = Annotation.objects.filter(image_id=gus_image).order_by("pk")
    page.goto(f"{base}/images/{gus_image}/label/")
    expect(page.locator("#label-app")).to_have_attribute("data-ready", "true")
    page.once("dialog", lambda dialog: dialog.accept("Too loose at the edges"))
    page.locator(f'[data-annotation-id="{first.pk}"] .review-rejected').click()
    expect(page.locator(f'[data-annotation-id="{first.pk}"] .ann-status')).to_have_text("rejected")
    # Masks need a category to be exported.
    page.locator(f'[data-annotation-id="{second.pk}"] select').select_option(label="car")
    expect(page.locator(f'[data-annotation-id="{second.pk}"] select')).to_have_value(
        str(project.categories.get(name="car").pk)
    )
    page.locator("#review-comment").fill("Good, bar the first mask")
    page.get_by_role("button", name="Approve image").click()
    expect(page.get_by_text("Approved")).to_be_visible()
    assert Image.objects.get(pk=gus_image).labeling_status == "approved"

    page.goto(f"{base}/exports/")
    page.get_by_role("button", name="Start export").click()
    link = page.locator("#exports tbody tr").first.locator(".download a")
    expect(link).to_be_visible(timeout=SLOW)
    with page.expect_download() as download:
        link.click()
    coco = json.loads(Path(download.value.path()).read_bytes())
    approved = Annotation.objects.get(status="approved")
    assert approved.pk == second.pk
    assert [a["id"] for a in coco["annotations"]] == [approved.pk]
    assert np.array_equal(
        rle_decode(coco["annotations"][0]["segmentation"]), rle_decode(approved.rle)
    )

    # The admin cleans up: the finished export goes, with its file.
    row = page.locator("#exports tbody tr").first
    expect(row.get_by_role("button", name="Delete")).to_be_enabled()
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Export deleted, with its file.")).to_be_visible()
    expect(page.get_by_text("No exports yet.")).to_be_visible()
    assert not Export.objects.exists()


def test_an_import_reaches_an_open_labeling_page(
    page: Any, browser: Any, server: AsgiServer, worker: Worker, tiny_sam: str, settings: Any
) -> None:
    if not settings.REDIS_URL:
        pytest.skip("the in-memory channel layer cannot carry the worker's events")
    project, [image] = labeled_project(tiny_sam, worker)
    log_in(page, server.url, "fay")
    page.goto(f"{server.url}/projects/{project.pk}/images/{image.pk}/label/")
    app = page.locator("#label-app")
    expect(page.locator("#connection-status")).to_have_text("Connected")
    expect(app).to_have_attribute("data-annotations", "0")

    squares = []
    for k in range(3):
        mask = np.zeros((image.height, image.width), bool)
        mask[10 + 40 * k : 40 + 40 * k, 20:60] = True
        squares.append(rle_encode(mask))
    coco = {
        "images": [{"id": 1, "file_name": "street-0.png"}],
        "categories": [{"id": 5, "name": "car"}],
        "annotations": [
            {"id": k, "image_id": 1, "category_id": 5, "segmentation": rle}
            for k, rle in enumerate(squares, start=1)
        ],
    }
    admin_tab = page.context.new_page()
    admin_tab.goto(f"{server.url}/projects/{project.pk}/exports/")
    admin_tab.locator('input[name="file"]').set_input_files(
        {"name": "labels.json", "mimeType": "application/json", "buffer": json.dumps(coco).encode()}
    )
    admin_tab.get_by_role("button", name="Import").click()
    # The worker imports the file; the open page gets the masks without a reload.
    expect(app).to_have_attribute("data-annotations", "3", timeout=SLOW)
    expect(page.get_by_text("3 masks imported by fay.")).to_be_visible()
    shown = page.locator(".ann")
    expect(shown).to_have_count(3)
    stored = Annotation.objects.filter(image=image, source="import").order_by("id")
    assert [rle_decode(a.rle).sum() for a in stored] == [1200, 1200, 1200]
