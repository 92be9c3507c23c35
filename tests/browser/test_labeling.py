"""The labeling page end to end: a real browser, the real ASGI server (HTTP and
websockets) in a subprocess, and a real worker computing embeddings with a tiny
random SAM. Nothing is mocked; the tests read pixels off the page's canvas."""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from playwright.sync_api import expect

from inference.testing import save_tiny_sam
from labeling.models import (
    Annotation,
    Category,
    EmbeddingStatus,
    Image,
    Membership,
    Project,
    Role,
)
from labeling.services.projects import do_create_project
from labeling.services.uploads import do_add_image
from tests.browser.test_upload_flow import log_in
from tests.conftest import PASSWORD, make_user
from tests.live_server import AsgiServer
from tests.tcp_proxy import TcpProxy
from tests.worker_process import Worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_script_errors")]

# Screenshots for a person to look at (set ANYMASK_SCREENSHOTS to keep them elsewhere).
# The first decode loads the model into the server process; the machine is shared.
SLOW = 30_000
SHOTS = Path(os.environ.get("ANYMASK_SCREENSHOTS") or tempfile.gettempdir()) / "anymask-label"
# Counts canvas pixels that are opaque and not the image's plain grey: the mask
# overlays and the prompt marks. (Outside the image the canvas is transparent.)
COUNT_OVERLAY = """() => {
  const c = document.getElementById('canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] === 255 && !(d[i] === d[i + 1] && d[i + 1] === d[i + 2])) n += 1;
  }
  return n;
}"""


@pytest.fixture(scope="module", autouse=True)
def screenshots_folder() -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)


def grey_picture(size: tuple[int, int] = (320, 240)) -> io.BytesIO:
    """Plain grey with a darker square: any coloured pixel on the canvas is overlay."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    picture = PILImage.new("RGB", size, (128, 128, 128))
    ImageDraw.Draw(picture).rectangle((100, 70, 220, 170), fill=(60, 60, 60))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    out.seek(0)
    return out


def labeled_project(
    tiny_sam: str, worker: Worker, images: int = 1, size: tuple[int, int] = (320, 240)
) -> tuple[Project, list[Image]]:
    owner = make_user("fay")
    # The server process uses the real hashers, not the tests' fast MD5.
    owner.password = make_password(PASSWORD, hasher=PBKDF2PasswordHasher())
    owner.save(update_fields=["password"])
    project = do_create_project(owner, name="Streets")
    project.model_spec = tiny_sam
    project.save()
    Category.objects.create(project=project, name="car", color="#e5484d", order=1)
    Category.objects.create(project=project, name="tree", color="#1fbf5b", order=2)
    added = []
    for index in range(images):
        picture = grey_picture((size[0] + index, size[1]))  # distinct content, distinct hash
        added.append(do_add_image(project, owner, picture, f"street-{index}.png"))
    wait_until(
        lambda: all(
            Image.objects.get(pk=i.pk).embedding_status == EmbeddingStatus.READY for i in added
        ),
        "the embeddings",
        worker,
    )
    return project, added


def open_label_page(
    page: Any, server: AsgiServer | TcpProxy, project: Project, image: Image
) -> Any:
    log_in(page, server.url, "fay")
    page.goto(f"{server.url}/projects/{project.pk}/images/{image.pk}/label/")
    app = page.locator("#label-app")
    expect(app).to_have_attribute("data-ready", "true")
    expect(app).to_have_attribute("data-image-loaded", "true")
    expect(page.locator("#connection-status")).to_have_text("Connected")
    return app


def click_image(page: Any, x: float, y: float, shift: bool = False) -> None:
    """Click at image pixel (x, y); with shift, a negative point."""
    box = page.locator("#canvas").bounding_box()
    sx, sy = screen_point(page, x, y)
    if shift:
        page.keyboard.down("Shift")
    page.mouse.click(box["x"] + sx, box["y"] + sy)
    if shift:
        page.keyboard.up("Shift")


def screen_point(page: Any, x: float, y: float) -> tuple[float, float]:
    """Image pixel → canvas CSS pixel, assuming the page's fit-to-screen view."""
    box = page.locator("#canvas").bounding_box()
    width, height = page.evaluate(
        "() => [Number(document.getElementById('label-app').dataset.width),"
        " Number(document.getElementById('label-app').dataset.height)]"
    )
    margin = 16
    scale = min((box["width"] - 2 * margin) / width, (box["height"] - 2 * margin) / height)
    ox = (box["width"] - width * scale) / 2
    oy = (box["height"] - height * scale) / 2
    return ox + x * scale, oy + y * scale


def mask_area(app: Any) -> int:
    return int(app.get_attribute("data-mask-area") or 0)


def test_clicks_and_a_box_make_masks_and_accept_saves_one(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, [image] = labeled_project(tiny_sam, worker)
    app = open_label_page(page, server, project, image)
    assert page.evaluate(COUNT_OVERLAY) == 0  # just the grey image

    click_image(page, 160, 120)
    expect(app).not_to_have_attribute("data-mask-area", "0", timeout=SLOW)
    expect(page.locator(".candidate")).to_have_count(3)
    first = page.evaluate(COUNT_OVERLAY)
    assert first > 200, "mask pixels appear on the canvas"
    page.screenshot(path=str(SHOTS / "1-click.png"))

    click_image(page, 60, 200, shift=True)  # a negative point refines it
    expect(app).to_have_attribute("data-busy", "false", timeout=SLOW)
    after_negative = page.evaluate(COUNT_OVERLAY)
    assert after_negative != first

    page.keyboard.press("b")
    start, end = screen_point(page, 90, 60), screen_point(page, 230, 180)
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + start[0], box["y"] + start[1])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0], box["y"] + end[1], steps=5)
    page.mouse.up()
    expect(app).to_have_attribute("data-busy", "false", timeout=SLOW)
    assert page.evaluate(COUNT_OVERLAY) != after_negative

    page.keyboard.press("Tab")  # next candidate, if the server sent several
    page.keyboard.press("Alt+2")  # "tree"
    page.keyboard.press("Enter")
    expect(page.locator(".ann:not(.saving)")).to_have_count(1)
    expect(app).to_have_attribute("data-annotations", "1")
    saved = Annotation.objects.get(image=image)
    assert saved.category is not None and saved.category.name == "tree"
    assert saved.area > 0
    page.screenshot(path=str(SHOTS / "2-accepted.png"))

    page.reload()
    expect(app).to_have_attribute("data-ready", "true")
    expect(app).to_have_attribute("data-image-loaded", "true")
    expect(page.locator(".ann")).to_have_count(1)
    expect(page.locator(".ann select")).to_have_value(str(saved.category_id))
    assert page.evaluate(COUNT_OVERLAY) > 200  # the saved mask is drawn after reload


def test_hover_preview_shows_the_mask_under_the_cursor_and_is_remembered(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, [image] = labeled_project(tiny_sam, worker)
    app = open_label_page(page, server, project, image)
    box = page.locator("#canvas").bounding_box()
    sx, sy = screen_point(page, 160, 120)
    page.mouse.move(box["x"] + sx, box["y"] + sy)
    page.wait_for_timeout(500)
    assert app.get_attribute("data-hover-area") == "0"  # off by default

    page.keyboard.press("h")
    expect(page.locator("#hover-preview")).to_be_checked()
    page.mouse.move(box["x"] + sx + 3, box["y"] + sy + 2, steps=3)
    expect(app).not_to_have_attribute("data-hover-area", "0", timeout=SLOW)
    assert page.evaluate(COUNT_OVERLAY) > 200  # drawn on the canvas
    assert mask_area(app) == 0  # only a preview: nothing to accept
    page.screenshot(path=str(SHOTS / "5-hover.png"))

    page.mouse.move(box["x"] + 2, box["y"] + 2)  # off the image: the preview goes
    expect(app).to_have_attribute("data-hover-area", "0")
    assert page.evaluate(COUNT_OVERLAY) == 0

    page.reload()  # the preference survives a reload
    expect(app).to_have_attribute("data-ready", "true")
    expect(page.locator("#hover-preview")).to_be_checked()
    page.mouse.move(box["x"] + sx, box["y"] + sy, steps=3)
    expect(app).not_to_have_attribute("data-hover-area", "0", timeout=SLOW)
    click_image(page, 160, 120)  # a click makes the real mask and ends the preview
    expect(app).not_to_have_attribute("data-mask-area", "0", timeout=SLOW)
    expect(app).to_have_attribute("data-hover-area", "0")
    expect(page.locator(".candidate")).to_have_count(3)
    assert Annotation.objects.filter(image=image).count() == 0


def test_brush_paints_and_undo_redo_restore(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, [image] = labeled_project(tiny_sam, worker)
    app = open_label_page(page, server, project, image)
    page.keyboard.press("d")
    box = page.locator("#canvas").bounding_box()
    start, end = screen_point(page, 40, 40), screen_point(page, 120, 60)
    page.mouse.move(box["x"] + start[0], box["y"] + start[1])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0], box["y"] + end[1], steps=8)
    page.mouse.up()
    painted = mask_area(app)
    assert painted > 500  # a 12 px brush along an 80 px stroke
    page.mouse.move(box["x"] + 5, box["y"] + 5)  # the brush cursor off the image
    assert page.evaluate(COUNT_OVERLAY) > 200

    page.keyboard.press("Control+z")
    expect(app).to_have_attribute("data-mask-area", "0")
    page.keyboard.press("Control+Shift+z")
    expect(app).to_have_attribute("data-mask-area", str(painted))

    page.keyboard.press("e")  # the eraser takes a bite out of it
    middle = screen_point(page, 80, 50)
    page.mouse.click(box["x"] + middle[0], box["y"] + middle[1])
    erased = mask_area(app)
    assert 0 < erased < painted
    page.keyboard.press("Control+z")
    expect(app).to_have_attribute("data-mask-area", str(painted))

    page.keyboard.press("Alt+1")
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_have_text(re.compile(r"Saved mask #\d+\."))
    expect(page.locator(".ann:not(.saving)")).to_have_count(1)
    saved = Annotation.objects.get(image=image)
    assert saved.area == painted and saved.category is not None
    assert saved.category.name == "car"


def test_the_page_reconnects_after_a_server_restart_and_resends_unsaved_masks(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, [image] = labeled_project(tiny_sam, worker)
    app = open_label_page(page, server, project, image)

    server.restart()  # the socket closes under the page
    expect(page.locator("#connection-status")).to_have_text("Connected", timeout=30_000)
    click_image(page, 160, 120)
    expect(app).not_to_have_attribute("data-mask-area", "0", timeout=SLOW)
    expect(app).to_have_attribute("data-busy", "false", timeout=SLOW)

    server.stop()
    expect(app).to_have_attribute("data-connection", "closed")
    page.keyboard.press("Enter")  # accepted while offline: kept, shown as saving
    expect(page.locator(".ann.saving")).to_have_count(1)
    page.screenshot(path=str(SHOTS / "3-offline.png"))
    server.start()
    expect(page.locator("#connection-status")).to_have_text("Connected", timeout=30_000)
    expect(page.locator(".ann:not(.saving)")).to_have_count(1)
    expect(page.locator(".ann.saving")).to_have_count(0)
    assert Annotation.objects.filter(image=image).count() == 1


def test_navigation_and_help(page: Any, server: AsgiServer, worker: Worker, tiny_sam: str) -> None:
    project, images = labeled_project(tiny_sam, worker, images=3)
    open_label_page(page, server, project, images[0])
    page.keyboard.press("?")
    expect(page.get_by_role("heading", name="Keyboard shortcuts")).to_be_visible()
    page.screenshot(path=str(SHOTS / "4-help.png"))
    page.keyboard.press("Escape")
    page.keyboard.press(".")
    expect(page).to_have_url(f"{server.url}/projects/{project.pk}/images/{images[1].pk}/label/")
    expect(page.locator("#label-app")).to_have_attribute("data-ready", "true")
    page.keyboard.press(",")
    expect(page).to_have_url(f"{server.url}/projects/{project.pk}/images/{images[0].pk}/label/")
    Image.objects.filter(pk=images[1].pk).update(labeling_status="in_progress")
    expect(page.locator("#label-app")).to_have_attribute("data-ready", "true")
    page.keyboard.press("n")  # skips the image someone has started on
    expect(page).to_have_url(f"{server.url}/projects/{project.pk}/images/{images[2].pk}/label/")

    page.goto(f"{server.url}/projects/{project.pk}/")
    page.get_by_role("link", name="Start labeling").click()
    expect(page).to_have_url(f"{server.url}/projects/{project.pk}/images/{images[0].pk}/label/")
    # Done with it: Shift+Enter sends it to review, and the work queue hands out the next.
    expect(page.locator("#label-app")).to_have_attribute("data-ready", "true")
    page.once("dialog", lambda dialog: dialog.accept())  # "Submit this image with no masks?"
    page.keyboard.press("Shift+Enter")
    expect(page).to_have_url(f"{server.url}/projects/{project.pk}/images/{images[2].pk}/label/")
    assert Image.objects.get(pk=images[0].pk).labeling_status == "submitted"


def test_a_50_megapixel_image_opens_and_accept_stores_a_full_size_mask(
    page: Any, server: AsgiServer, worker: Worker, tmp_path: Path
) -> None:
    # Blob-shaped masks, as trained weights give: a noise mask of 50 MP is megabytes.
    coherent = str(save_tiny_sam(tmp_path / "coherent-sam", coherent=True))
    width, height = 8660, 5774  # 50.0 megapixels
    project, [image] = labeled_project(coherent, worker, size=(width, height))
    app = open_label_page(page, server, project, image)
    assert app.get_attribute("data-width") == str(width)

    click_image(page, width / 2, height / 2)
    expect(app).not_to_have_attribute("data-mask-area", "0", timeout=SLOW)
    # The page holds a preview, never a 50 MP copy of each candidate.
    assert int(app.get_attribute("data-mask-width") or 0) <= 2048
    assert page.evaluate(COUNT_OVERLAY) > 200
    page.keyboard.press("Enter")
    expect(page.locator(".ann:not(.saving)")).to_have_count(1, timeout=SLOW)
    saved = Annotation.objects.get(image=image)
    assert saved.rle["size"] == [height, width]  # stored at full resolution
    assert saved.area > 0

    page.reload()
    expect(app).to_have_attribute("data-image-loaded", "true", timeout=SLOW)
    expect(page.locator(".ann")).to_have_count(1)
    assert page.evaluate(COUNT_OVERLAY) > 200
    page.screenshot(path=str(SHOTS / "6-fifty-megapixels.png"))


def test_a_reviewer_decides_on_one_mask_and_on_the_whole_image(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, images = labeled_project(tiny_sam, worker, images=2)
    app = open_label_page(page, server, project, images[0])
    click_image(page, 160, 120)
    expect(app).not_to_have_attribute("data-mask-area", "0", timeout=SLOW)
    page.keyboard.press("Enter")
    expect(page.locator(".ann:not(.saving)")).to_have_count(1, timeout=SLOW)
    click_image(page, 60, 40)
    expect(app).not_to_have_attribute("data-mask-area", "0", timeout=SLOW)
    page.keyboard.press("Enter")
    expect(page.locator(".ann:not(.saving)")).to_have_count(2, timeout=SLOW)
    page.keyboard.press("Shift+Enter")  # submit: on to the other image
    expect(page).to_have_url(f"{server.url}/projects/{project.pk}/images/{images[1].pk}/label/")

    # fay is an admin, so she reviews too: back to the submitted image.
    page.goto(f"{server.url}/projects/{project.pk}/review/")
    page.get_by_role("link", name="Review next").click()
    expect(page.locator("#label-app")).to_have_attribute("data-ready", "true")
    first, second = Annotation.objects.filter(image=images[0]).order_by("pk")
    # Rejecting one mask asks why; the reason shows under the mask.
    page.once("dialog", lambda dialog: dialog.accept("Misses the roof"))
    page.locator(f'[data-annotation-id="{first.pk}"] .review-rejected').click()
    expect(page.locator(f'[data-annotation-id="{first.pk}"] .ann-status')).to_have_text("rejected")
    comment = page.locator(f'[data-annotation-id="{first.pk}"] .ann-comment')
    expect(comment).to_have_text("Reviewer: Misses the roof")
    page.locator("#review-comment").fill("The second one is fine")
    page.get_by_role("button", name="Approve image").click()
    expect(page.get_by_text("Approved street-0.png")).to_be_visible()
    assert Image.objects.get(pk=images[0].pk).labeling_status == "approved"
    statuses = dict(Annotation.objects.filter(image=images[0]).values_list("pk", "status"))
    assert statuses == {first.pk: "rejected", second.pk: "approved"}
    assert Annotation.objects.get(pk=first.pk).review_comment == "Misses the roof"


def test_two_people_on_one_image_see_each_other_and_each_others_masks(
    page: Any, browser: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, images = labeled_project(tiny_sam, worker, images=2)
    gus = make_user("gus")
    gus.password = make_password(PASSWORD, hasher=PBKDF2PasswordHasher())
    gus.save(update_fields=["password"])
    Membership.objects.create(project=project, user=gus, role=Role.ANNOTATOR)
    app = open_label_page(page, server, project, images[0])
    other = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        log_in(other, server.url, "gus")
        other.goto(f"{server.url}/projects/{project.pk}/images/{images[0].pk}/label/")
        expect(other.locator("#label-app")).to_have_attribute("data-ready", "true")
        expect(page.locator("#presence")).to_have_text("Also here: gus")
        expect(other.locator("#presence")).to_have_text("Also here: fay")
        # fay's new mask shows up in gus's list without a reload.
        click_image(page, 160, 120)
        expect(app).not_to_have_attribute("data-mask-area", "0", timeout=SLOW)
        page.keyboard.press("Enter")
        expect(other.locator(".ann")).to_have_count(1, timeout=SLOW)
        # gus reads who did it in the History panel.
        other.locator("#history summary").click()
        expect(other.locator("#history-list li").first).to_contain_text("fay · #")
        expect(other.locator("#history-list li").first).to_contain_text("added (sam)")
        # The grid shows who has which image open.
        grid = browser.new_context().new_page()
        log_in(grid, server.url, "fay")
        grid.goto(f"{server.url}/projects/{project.pk}/")
        tile = grid.locator(f'[data-image-id="{images[0].pk}"] [data-field="viewers"]')
        expect(tile).to_have_text("👁 fay, gus")
        other.close()  # gus leaves
        expect(page.locator("#presence")).to_be_hidden()
        expect(tile).to_have_text("👁 fay", timeout=SLOW)
    finally:
        other.context.close()
