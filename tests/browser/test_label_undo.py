"""Undo and redo of saved changes on the labeling page, in a real Chromium against
the real server: accept, delete, re-categorise, a brush edit of a saved mask and a
reviewer's verdict each undo with Ctrl+Z and redo with Ctrl+Shift+Z / Ctrl+Y, as
versioned writes the history records; the buttons name the step; someone else's
change in between is a conflict, shown as an edit's conflict is."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from inference.masks import rle_decode, rle_encode
from labeling.models import Annotation, AnnotationEvent, Category, Image, Membership, Project, Role
from labeling.services.annotations import do_create_annotation
from labeling.services.review import do_submit_image
from tests.browser.test_label_safety import stroke
from tests.browser.test_label_selection import paint_mask
from tests.browser.test_labeling import labeled_project, open_label_page
from tests.browser.test_live_sockets import person
from tests.browser.test_upload_flow import log_in
from tests.live_server import AsgiServer
from tests.worker_process import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_script_errors")]


def message(page: Any) -> Any:
    return page.locator("#message")


def saved_mask(image: Image, category: str = "car") -> Annotation:
    """A 40×30 px mask made before the page opens (as by someone earlier)."""
    pixels = np.zeros((image.height, image.width), dtype=bool)
    pixels[40:70, 30:70] = True
    named = Category.objects.get(project=image.project, name=category)
    owner = User.objects.get(username="fay")
    return do_create_annotation(
        image, owner, rle=rle_encode(pixels), source="manual", category_id=named.pk
    )


def actions(annotation: Annotation) -> list[str]:
    rows = AnnotationEvent.objects.filter(annotation_id=annotation.pk).order_by("id")
    return list(rows.values_list("action", flat=True))


def test_undo_removes_an_accepted_mask_and_redo_brings_it_back(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, [image] = labeled_project(tiny_sam, worker)
    open_label_page(page, server, project, image)
    undo, redo = page.locator("#undo"), page.locator("#redo")
    expect(undo).to_be_disabled()
    expect(redo).to_be_disabled()
    paint_mask(page, (40, 50), (110, 50))
    expect(message(page)).to_have_text(re.compile(r"Saved mask #\d+\."))
    mask = Annotation.objects.get(image=image)
    expect(undo).to_be_enabled()
    expect(undo).to_have_attribute("title", f"Undo accept of mask #{mask.pk} (Ctrl+Z)")

    page.keyboard.press("Control+z")
    expect(message(page)).to_have_text(f"Undid accept of mask #{mask.pk}.")
    expect(page.locator(".ann:not(.saving)")).to_have_count(0)
    assert not Annotation.objects.filter(pk=mask.pk).exists()
    expect(undo).to_be_disabled()
    expect(redo).to_have_attribute(
        "title", f"Redo accept of mask #{mask.pk} (Ctrl+Shift+Z or Ctrl+Y)"
    )

    page.keyboard.press("Control+Shift+z")
    expect(message(page)).to_have_text(f"Redid accept of mask #{mask.pk}.")
    expect(page.locator(f'.ann[data-annotation-id="{mask.pk}"]')).to_have_count(1)
    back = Annotation.objects.get(pk=mask.pk)
    assert (back.rle, back.category_id, back.version) == (mask.rle, mask.category_id, 2)

    page.keyboard.press("Control+z")  # and once more, with Ctrl+Y as the redo
    expect(message(page)).to_have_text(f"Undid accept of mask #{mask.pk}.")
    page.keyboard.press("Control+y")
    expect(message(page)).to_have_text(f"Redid accept of mask #{mask.pk}.")
    expect(page.locator(".ann:not(.saving)")).to_have_count(1)
    assert Annotation.objects.get(pk=mask.pk).version == 3
    assert actions(mask) == ["created", "deleted", "restored", "deleted", "restored"]
    page.reload()  # the stack belongs to the page: a reload starts it afresh
    expect(page.locator("#label-app")).to_have_attribute("data-ready", "true")
    expect(undo).to_be_disabled()
    page.keyboard.press("Control+z")
    expect(message(page)).to_have_text("Nothing to undo.")
    assert Annotation.objects.filter(pk=mask.pk).exists()


def test_undo_brings_back_a_deleted_mask_and_a_changed_category(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, [image] = labeled_project(tiny_sam, worker)
    mask = saved_mask(image)
    app = open_label_page(page, server, project, image)
    page.keyboard.press("j")
    expect(app).to_have_attribute("data-selected", str(mask.pk))
    page.keyboard.press("Delete")  # no "are you sure?": undo is the way back
    expect(message(page)).to_have_text(f"Deleted mask #{mask.pk}. Ctrl+Z brings it back.")
    expect(page.locator(".ann:not(.saving)")).to_have_count(0)
    page.keyboard.press("Control+z")
    expect(message(page)).to_have_text(f"Undid delete of mask #{mask.pk}.")
    row = page.locator(f'.ann[data-annotation-id="{mask.pk}"]')
    expect(row).to_have_count(1)
    back = Annotation.objects.get(pk=mask.pk)  # the same mask, same id, next version
    assert (back.rle, back.version, back.created_by) == (mask.rle, 2, mask.created_by)

    row.locator("select").select_option(label="tree")
    expect(message(page)).to_have_text(f"Mask #{mask.pk} is now tree.")
    expect(page.locator("#undo")).to_have_attribute(
        "title", f"Undo re-categorise of mask #{mask.pk} (Ctrl+Z)"
    )
    page.keyboard.press("Control+z")
    expect(message(page)).to_have_text(f"Undid re-categorise of mask #{mask.pk}.")
    expect(row.locator("select option:checked")).to_have_text("car")
    reverted = Annotation.objects.get(pk=mask.pk)
    assert (reverted.category_id, reverted.version) == (mask.category_id, 4)
    assert actions(mask) == ["created", "deleted", "restored", "updated", "updated"]


def test_undo_of_a_brush_edit_restores_the_previous_pixels(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, [image] = labeled_project(tiny_sam, worker)
    mask = saved_mask(image)
    app = open_label_page(page, server, project, image)
    page.keyboard.press("j")
    expect(app).to_have_attribute("data-selected", str(mask.pk))
    page.keyboard.press("d")
    stroke(page, (150, 150), (250, 150))  # paints onto the selected, saved mask
    page.keyboard.press("Enter")
    expect(message(page)).to_have_text(f"Saved the edit of mask #{mask.pk}.")
    edited = Annotation.objects.get(pk=mask.pk)
    assert edited.area > mask.area and edited.version == 2

    page.keyboard.press("Control+z")
    expect(message(page)).to_have_text(f"Undid edit of mask #{mask.pk}.")
    expect(page.locator(".ann-meta")).to_contain_text(f"{mask.area:,} px")
    undone = Annotation.objects.get(pk=mask.pk)
    assert np.array_equal(rle_decode(undone.rle), rle_decode(mask.rle))
    assert undone.version == 3
    page.keyboard.press("Control+Shift+z")
    expect(message(page)).to_have_text(f"Redid edit of mask #{mask.pk}.")
    redone = Annotation.objects.get(pk=mask.pk)
    assert np.array_equal(rle_decode(redone.rle), rle_decode(edited.rle))


def reviewer_of(project: Project) -> Any:
    rita = person("rita")
    Membership.objects.create(project=project, user=rita, role=Role.REVIEWER)
    return rita


def test_a_reviewer_undoes_an_approval_on_the_review_flow(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, [image] = labeled_project(tiny_sam, worker)
    mask = saved_mask(image)
    do_submit_image(image, User.objects.get(username="fay"))
    reviewer_of(project)
    log_in(page, server.url, "rita")
    page.goto(f"{server.url}/projects/{project.pk}/review/")
    page.get_by_role("link", name="Review next").click()
    app = page.locator("#label-app")
    expect(app).to_have_attribute("data-ready", "true")
    page.keyboard.press("j")
    expect(app).to_have_attribute("data-selected", str(mask.pk))
    page.keyboard.press("a")
    expect(message(page)).to_have_text(f"Approved mask #{mask.pk}.")
    expect(page.locator("#undo")).to_have_attribute(
        "title", f"Undo approve of mask #{mask.pk} (Ctrl+Z)"
    )
    page.keyboard.press("Control+z")
    expect(message(page)).to_have_text(f"Undid approve of mask #{mask.pk}.")
    expect(page.locator(".ann-status")).to_have_text("submitted")
    assert Annotation.objects.get(pk=mask.pk).status == "submitted"
    page.keyboard.press("Control+y")
    expect(message(page)).to_have_text(f"Redid approve of mask #{mask.pk}.")
    expect(page.locator(".ann-status")).to_have_text("approved")
    assert Annotation.objects.get(pk=mask.pk).status == "approved"

    page.once("dialog", lambda dialog: dialog.accept("Too loose"))
    page.keyboard.press("r")
    expect(message(page)).to_have_text(f"Rejected mask #{mask.pk}.")
    expect(page.locator(".ann-comment")).to_have_text("Reviewer: Too loose")
    page.keyboard.press("Control+z")
    expect(message(page)).to_have_text(f"Undid reject of mask #{mask.pk}.")
    expect(page.locator(".ann-comment")).to_have_count(0)
    back = Annotation.objects.get(pk=mask.pk)
    assert (back.status, back.review_comment) == ("approved", "")


def test_an_undo_after_someone_elses_change_is_a_conflict(
    page: Any, browser: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, [image] = labeled_project(tiny_sam, worker)
    gus = person("gus")
    Membership.objects.create(project=project, user=gus, role=Role.ANNOTATOR)
    open_label_page(page, server, project, image)
    paint_mask(page, (40, 50), (110, 50))
    expect(message(page)).to_have_text(re.compile(r"Saved mask #\d+\."))
    mask = Annotation.objects.get(image=image)

    other = browser.new_context().new_page()
    try:
        log_in(other, server.url, "gus")
        other.goto(f"{server.url}/projects/{project.pk}/images/{image.pk}/label/")
        expect(other.locator("#label-app")).to_have_attribute("data-ready", "true")
        other.locator(f'.ann[data-annotation-id="{mask.pk}"] select').select_option(label="tree")
        expect(other.locator("#message")).to_have_text(f"Mask #{mask.pk} is now tree.")
    finally:
        other.context.close()
    # Gus's change reaches the first page live; undoing the accept now would delete it.
    row = page.locator(f'.ann[data-annotation-id="{mask.pk}"]')
    expect(row.locator("select option:checked")).to_have_text("tree")
    page.keyboard.press("Control+z")
    expect(message(page)).to_have_text(
        f"Mask #{mask.pk} was changed by gus; showing their version. "
        "Re-apply your change if it still makes sense."
    )
    expect(row).to_have_count(1)
    kept = Annotation.objects.get(pk=mask.pk)
    tree = Category.objects.get(project=project, name="tree")
    assert (kept.category_id, kept.version) == (tree.pk, 2)
    expect(page.locator("#undo")).to_be_disabled()  # the stale step is gone
