"""The labeling page's Find box (SAM 3 concept prompts), in a real Chromium against the
real server and a real `concepts` worker running a tiny random SAM 3: a category chip
finds instances with scores, the threshold slider filters them, Accept all saves each
shown one as a mask with the chip's category (source "concept"), a found instance
is refined with clicks (its box and mask the click model's first prompt) or kept as
found, and with concepts off the box is replaced by the reason."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import expect

from inference.concepts.testing import save_tiny_sam3
from inference.masks import rle_decode
from labeling.models import Annotation, Category, Project
from tests.browser.test_label_polygon import at
from tests.browser.test_labeling import SHOTS, SLOW, click_image, labeled_project, open_label_page
from tests.conftest import drain_queue
from tests.live_server import AsgiServer
from tests.worker_process import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_script_errors")]


@pytest.fixture(scope="module")
def tiny_sam3(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny_sam3(tmp_path_factory.mktemp("models") / "tiny-sam3", image_size=56))


@pytest.fixture(scope="module")
def stack(
    django_db_setup: None,
    django_db_blocker: Any,
    shared_media: Path,
    tiny_sam3: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[AsgiServer, Worker]]:
    """The server and a worker (every queue, `concepts` included), both configured
    with the tiny SAM 3."""
    logs = tmp_path_factory.mktemp("logs")
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)
    drain_queue(settings.CELERY_QUEUE_CONCEPTS)
    env = {"ANYMASK_CONCEPT_MODEL": tiny_sam3, "ANYMASK_CONCEPT_CACHE_MB": "4"}
    server = AsgiServer(shared_media, logs / "server.log", env=env)
    worker = Worker(shared_media, logs / "worker.log", env=env)
    worker.start()
    server.start()
    yield server, worker
    server.stop()
    worker.stop()


def shown_scores(page: Any) -> list[float]:
    texts = page.locator("#find-list .find-instance").all_inner_texts()
    return [float(re.search(r"score (\d\.\d\d)", text).group(1)) for text in texts]  # type: ignore[union-attr]


def test_a_chip_finds_instances_and_accept_all_saves_them_with_its_category(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, (image,) = labeled_project(tiny_sam, worker)
    Project.objects.filter(pk=project.pk).update(concepts_enabled=True)
    tree = Category.objects.get(project=project, name="tree")
    open_label_page(page, server, project, image)
    panel = page.locator("#find")
    expect(page.locator("#find-unavailable")).to_have_count(0)

    # F puts the keyboard in the Find box; the slider goes to 0 so the tiny random
    # model's low scores are all shown.
    page.locator("#canvas").focus()
    page.keyboard.press("f")
    expect(page.locator("#find-phrase")).to_be_focused()
    page.locator("#find-threshold").fill("0")
    page.locator("#find-chips .chip", has_text="tree").click()
    expect(page.locator("#find-phrase")).to_have_value("tree")
    expect(panel).to_have_attribute("data-state", "finding")
    expect(page.locator("#find-status")).to_contain_text("Finding")
    expect(panel).to_have_attribute("data-state", "results", timeout=120_000)
    count = int(panel.get_attribute("data-shown"))
    assert count > 0, "threshold 0 shows every de-duplicated instance"
    scores = shown_scores(page)
    assert len(scores) == count and scores == sorted(scores, reverse=True)
    expect(page.locator("#find-status")).to_contain_text(f"{count} found")
    expect(page.locator("#find-status")).to_contain_text("save as tree")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "find-results.png"))

    # The slider filters what is shown, here on the page: above the best score, none.
    page.locator("#find-threshold").fill(f"{min(1.0, scores[0] + 0.01):.2f}")
    expect(panel).to_have_attribute("data-shown", "0")
    expect(page.locator("#find-accept-all")).to_be_disabled()
    page.locator("#find-threshold").fill("0")
    expect(panel).to_have_attribute("data-shown", str(count))

    # A click on an instance on the image selects it (and again unselects it); Accept
    # selected saves only that one, the mask under the click.
    first = page.locator("#find-list .find-instance").first
    x, y = (int(v) for v in first.get_attribute("data-pixel").split(","))
    pressed = page.locator('#find-list .find-instance[aria-pressed="true"]')
    page.mouse.click(*at(page, x + 0.5, y + 0.5))
    expect(pressed).to_have_count(1)
    page.mouse.click(*at(page, x + 0.5, y + 0.5))
    expect(pressed).to_have_count(0)
    page.mouse.click(*at(page, x + 0.5, y + 0.5))
    expect(pressed).to_have_count(1)
    assert page.locator("#label-app").get_attribute("data-mask-area") == "0"  # no SAM point
    page.locator("#find-accept-selected").click()
    expect(page.locator("#annotation-count")).to_have_text("1")
    (picked,) = Annotation.objects.filter(image=image)
    assert rle_decode(picked.rle)[y, x], "the saved mask is the one clicked"
    # A click in the list selects too.
    page.locator("#find-list .find-instance").first.click()
    expect(pressed).to_have_count(1)
    expect(panel).to_have_attribute("data-shown", str(count - 1))
    page.locator("#find-accept-all").click()
    expect(page.locator("#annotation-count")).to_have_text(str(count))
    expect(panel).to_have_attribute("data-shown", "0")
    saved = Annotation.objects.filter(image=image)
    assert saved.count() == count
    assert set(saved.values_list("category_id", flat=True)) == {tree.pk}
    assert set(saved.values_list("source", flat=True)) == {"concept"}  # found, not drawn
    assert all(a.rle["size"] == [image.height, image.width] for a in saved)

    # Searching again offers none of the saved masks: they are already there.
    page.locator("#find-go").click()
    expect(panel).to_have_attribute("data-state", "results", timeout=120_000)
    expect(panel).to_have_attribute("data-shown", "0")
    assert Annotation.objects.filter(image=image).count() == count  # nothing changed


def keep_frames(page: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every frame of the page's sockets, in order: ("sent" | "received", message)."""
    frames: list[tuple[str, dict[str, Any]]] = []

    def on_socket(ws: Any) -> None:
        ws.on("framesent", lambda payload: frames.append(("sent", json.loads(payload))))
        ws.on("framereceived", lambda payload: frames.append(("received", json.loads(payload))))

    page.on("websocket", on_socket)
    return frames


def last(frames: list[tuple[str, dict[str, Any]]], way: str, kind: str) -> dict[str, Any]:
    return [m for w, m in frames if w == way and m.get("type") == kind][-1]


def test_a_found_instance_is_refined_with_clicks_or_kept_as_found(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    frames = keep_frames(page)
    project, (image,) = labeled_project(tiny_sam, worker)
    Project.objects.filter(pk=project.pk).update(concepts_enabled=True)
    tree = Category.objects.get(project=project, name="tree")
    app = open_label_page(page, server, project, image)
    panel = page.locator("#find")
    page.locator("#find-threshold").fill("0")
    page.locator("#find-chips .chip", has_text="tree").click()
    expect(panel).to_have_attribute("data-state", "results", timeout=120_000)
    count = int(panel.get_attribute("data-shown"))
    assert count >= 2, "the tiny model finds several instances at threshold 0"
    found = last(frames, "received", "concept_results")["instances"]
    page.locator("#canvas").focus()
    page.keyboard.press("Alt+1")  # "car" in the picker: the chip's category wins below

    # Refine takes the best instance: it is the current mask (and leaves the list).
    first = found[0]
    x, y = (int(v) for v in page.locator("#find-list .find-instance").first.get_attribute(
        "data-pixel").split(","))  # fmt: skip
    page.locator("#find-list .find-refine").first.click()
    expect(app).to_have_attribute("data-mask-area", str(first["area"]))
    expect(panel).to_have_attribute("data-shown", str(count - 1))
    expect(page.locator("#category")).to_have_value(str(tree.pk))

    # A click inside it goes to the click model with the instance's box and mask.
    click_image(page, x + 0.5, y + 0.5)
    expect(app).to_have_attribute("data-busy", "false", timeout=SLOW)
    prompt = last(frames, "sent", "prompt")
    assert prompt["mask"] == first["rle"] and prompt["refine"] is None
    assert prompt["box"] == pytest.approx(first["box"], abs=0.1)
    assert prompt["points"][0] == pytest.approx([x + 0.5, y + 0.5], abs=0.5)
    answer = last(frames, "received", "masks")
    assert answer["seq"] == prompt["seq"] and len(answer["candidates"]) == 1
    expect(app).to_have_attribute("data-mask-area", str(answer["candidates"][0]["area"]))
    # The next click (a negative one) refines the model's answer as usual.
    click_image(page, 2.5, 2.5, shift=True)
    expect(app).to_have_attribute("data-busy", "false", timeout=SLOW)
    again = last(frames, "sent", "prompt")
    assert again["refine"] == 0 and "mask" not in again and again["labels"] == [1, 0]
    page.keyboard.press("Enter")
    expect(page.locator("#annotation-count")).to_have_text("1")
    refined = Annotation.objects.get(image=image)
    assert (refined.source, refined.clicks, refined.category_id) == ("sam", 2, tree.pk)
    assert refined.rle == last(frames, "received", "masks")["candidates"][0]["rle"]

    # The shortcut sheet names the key; I takes the selected instance, and Enter keeps
    # it as found: saved with the concept source, its pixels untouched.
    page.keyboard.press("?")
    expect(page.locator("#help-body")).to_contain_text("Refine the selected instance")
    page.keyboard.press("Escape")
    page.locator("#find-list .find-instance").first.click()
    page.locator("#canvas").focus()
    page.keyboard.press("i")
    second = found[1]
    expect(app).to_have_attribute("data-mask-area", str(second["area"]))
    page.keyboard.press("Enter")
    expect(page.locator("#annotation-count")).to_have_text("2")
    kept = Annotation.objects.exclude(pk=refined.pk).get(image=image)
    assert (kept.source, kept.clicks, kept.category_id) == ("concept", 0, tree.pk)
    assert (rle_decode(kept.rle) == rle_decode(second["rle"])).all()


def test_an_example_box_sends_the_query_again(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, (image,) = labeled_project(tiny_sam, worker)
    Project.objects.filter(pk=project.pk).update(concepts_enabled=True)
    open_label_page(page, server, project, image)
    panel = page.locator("#find")
    page.locator("#find-threshold").fill("0")
    page.locator("#canvas").focus()
    page.keyboard.press("x")
    expect(page.locator("#find-exemplars")).to_be_checked()
    canvas = page.locator("#canvas").bounding_box()
    cx, cy = canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2
    page.mouse.move(cx - 60, cy - 40)
    page.mouse.down()
    page.mouse.move(cx + 60, cy + 40, steps=5)
    page.mouse.up()
    expect(page.locator("#find-examples-count")).to_have_text("1 example box")
    expect(panel).to_have_attribute("data-state", "results", timeout=120_000)
    expect(page.locator("#find-status")).to_contain_text("found")

    # An admin turns concepts off while the page is open: the next query says why.
    Project.objects.filter(pk=project.pk).update(concepts_enabled=False)
    page.locator("#find-go").click()
    expect(panel).to_have_attribute("data-error", "concepts_unavailable")
    expect(page.locator("#find-status")).to_contain_text(
        "Concept prompts are unavailable: Concept prompts are off for this project"
    )


def test_with_concepts_off_the_find_box_gives_the_reason(
    page: Any, server: AsgiServer, worker: Worker, tiny_sam: str
) -> None:
    project, (image,) = labeled_project(tiny_sam, worker)
    assert not Project.objects.get(pk=project.pk).concepts_enabled
    open_label_page(page, server, project, image)
    expect(page.locator("#find-phrase")).to_have_count(0)
    expect(page.locator("#find-accept-all")).to_have_count(0)
    reason = page.locator("#find-unavailable")
    expect(reason).to_contain_text("Concept prompts are off for this project")
    expect(reason).to_contain_text("An admin turns them on")
    page.locator("#canvas").focus()
    page.keyboard.press("f")
    expect(page.locator("#message")).to_contain_text("off for this project")
    page.keyboard.press("?")
    help_body = page.locator("#help-body")
    expect(help_body).to_contain_text("Find: type a phrase")
    expect(help_body).to_contain_text("Example boxes on / off")


def test_no_concepts_worker_in_time_is_said_in_the_box(
    page: Any,
    server: AsgiServer,
    worker: Worker,
    tiny_sam: str,
    tiny_sam3: str,
    shared_media: Path,
    tmp_path: Path,
) -> None:
    project, (image,) = labeled_project(tiny_sam, worker)
    Project.objects.filter(pk=project.pk).update(concepts_enabled=True)
    # A second server whose concept queries go to a queue no worker serves.
    env = {
        "ANYMASK_CONCEPT_MODEL": tiny_sam3,
        "ANYMASK_QUEUE_CONCEPTS": "findbox-nobody",
        "ANYMASK_CONCEPT_TIMEOUT_SECONDS": "1",
    }
    lonely = AsgiServer(shared_media, tmp_path / "server.log", env=env)
    lonely.start()
    try:
        open_label_page(page, lonely, project, image)
        page.locator("#find-phrase").fill("tree")
        page.locator("#find-phrase").press("Enter")
        panel = page.locator("#find")
        expect(panel).to_have_attribute("data-error", "concept_timeout")
        status = page.locator("#find-status")
        expect(status).to_contain_text("No answer in time")
        expect(status).to_contain_text("`concepts` queue")
        expect(page.locator("#find-accept-all")).to_be_disabled()
    finally:
        lonely.stop()
        drain_queue("findbox-nobody")
