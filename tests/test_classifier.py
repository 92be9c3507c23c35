"""Category suggestions end to end: the retrain after N approvals (debounced), the
stored classifier and its held-out figures, proposals pre-filled with a category,
the labeling socket's suggestion on every candidate, access, and the dashboard.

Projects use a tiny random SAM saved with `save_pretrained`; embeddings are computed
by the real task in-process, trainings and proposals by the real tasks.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.storage import default_storage

from inference.masks import rle_encode
from inference.testing import save_tiny_sam
from labeling.category_classifier import CategoryClassifier
from labeling.models import (
    Annotation,
    AnnotationEvent,
    Category,
    EmbeddingStatus,
    Image,
    Project,
)
from labeling.services.annotations import do_create_annotation, do_update_annotation
from labeling.services.proposals import do_start_proposals
from labeling.tasks import compute_embedding, run_proposals, train_classifier
from tests.api_helpers import api_for
from tests.conftest import Personas, drain_queue
from tests.test_consumer import LoopThread, masks_for, open_socket

pytestmark = pytest.mark.django_db(transaction=True)

WIDTH, HEIGHT = 320, 240
EVERY = 4


def scene(seed: int) -> tuple[io.BytesIO, np.ndarray, np.ndarray]:
    """A picture with a red square and a green disc on grey, and their two masks."""
    from PIL import Image as PILImage

    rng = np.random.default_rng(seed)
    pixels = rng.integers(90, 130, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    square = np.zeros((HEIGHT, WIDTH), bool)
    x, y = int(rng.integers(10, 120)), int(rng.integers(10, 150))
    square[y : y + 70, x : x + 70] = True
    ys, xs = np.mgrid[:HEIGHT, :WIDTH]
    disc = (ys - int(rng.integers(60, 180))) ** 2 + (xs - int(rng.integers(220, 270))) ** 2 < 40**2
    pixels[square] = (220, 30, 30)
    pixels[disc] = (30, 200, 40)
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, format="PNG")
    out.seek(0)
    return out, square, disc


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny_sam(tmp_path_factory.mktemp("models") / "tiny-sam"))


@pytest.fixture(scope="module")
def shared_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")  # pictures embedded once for the module


@pytest.fixture
def training_queue(settings: Any) -> Iterator[str]:
    queue = settings.CELERY_QUEUE_TRAINING
    drain_queue(queue)
    yield queue
    drain_queue(queue)


@pytest.fixture
def labeled(
    personas: Personas, tiny_sam: str, shared_media: Path, settings: Any, training_queue: str
) -> dict[str, Any]:
    """Six embedded pictures, each with a submitted "square" and a "disc" mask."""
    from labeling.services.uploads import do_add_image

    settings.MEDIA_ROOT = str(shared_media)
    settings.ANYMASK_CLASSIFIER_RETRAIN_EVERY = EVERY
    project = personas.project
    project.model_spec = tiny_sam
    project.save()
    square = Category.objects.create(project=project, name="square")
    disc = Category.objects.create(project=project, name="disc")
    masks: list[Annotation] = []
    for seed in range(6):
        picture, square_mask, disc_mask = scene(seed)
        image = do_add_image(project, personas.owner, picture, f"{seed}.png")
        compute_embedding.apply(args=[image.pk])
        for category, mask in ((square, square_mask), (disc, disc_mask)):
            masks.append(
                do_create_annotation(
                    image, personas.annotator, rle=rle_encode(mask), source="sam",
                    category_id=category.pk, status="submitted", clicks=2,
                )
            )  # fmt: skip
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)
    assert not Image.objects.exclude(embedding_status=EmbeddingStatus.READY).exists()
    return {"project": project, "square": square, "disc": disc, "masks": masks}


def approve(personas: Personas, masks: list[Annotation]) -> None:
    for mask in masks:
        mask.refresh_from_db()
        do_update_annotation(
            mask.image, mask.pk, personas.reviewer, expected_version=mask.version,
            status="approved",
        )  # fmt: skip


def queued_trainings(queue: str) -> list[list[Any]]:
    found = drain_queue(queue)
    assert {name for name, _ in found} <= {"labeling.tasks.train_classifier"}
    return [args for _, args in found]


def trained(personas: Personas, labeled: dict[str, Any], queue: str) -> Project:
    """Approve every mask, run the one training that queues, return the project."""
    approve(personas, labeled["masks"])
    [args] = queued_trainings(queue)
    assert train_classifier(*args) == "trained"
    project: Project = labeled["project"]
    project.refresh_from_db()
    return project


def test_a_retrain_is_queued_after_n_approvals_once_while_pending(
    personas: Personas, labeled: dict[str, Any], training_queue: str
) -> None:
    project, masks = labeled["project"], labeled["masks"]
    approve(personas, masks[: EVERY - 1])
    assert queued_trainings(training_queue) == []  # not yet due

    approve(personas, masks[EVERY - 1 : EVERY])
    assert queued_trainings(training_queue) == [[project.pk]]
    approve(personas, masks[EVERY : 3 * EVERY])  # twice the threshold more, while pending
    assert queued_trainings(training_queue) == []
    owner = api_for(personas.owner)
    reply = owner.call("POST", f"/projects/{project.pk}/classifier/train").json()
    assert reply["queued"] is False and reply["classifier"]["pending"] is True
    assert queued_trainings(training_queue) == []

    assert train_classifier(project.pk) == "trained"
    assert train_classifier(project.pk) == "not pending"  # a duplicate delivery does nothing
    row = CategoryClassifier.objects.get(project=project)
    assert (row.pending, row.version, row.approved_seen) == (False, 1, 3 * EVERY)
    assert row.train_masks + row.heldout_masks == 3 * EVERY
    assert {c["name"] for c in row.categories} == {"square", "disc"}
    # The held-out images' masks never trained it: its figures count them apart.
    assert sum(c["heldout"] for c in row.categories) == row.heldout_masks
    project.refresh_from_db()
    assert default_storage.exists(project.category_head)
    first = project.category_head

    # An admin asks again: a second version replaces the first, whose file goes.
    again = owner.call("POST", f"/projects/{project.pk}/classifier/train")
    assert again.status_code == 202 and again.json()["queued"] is True
    [args] = queued_trainings(training_queue)
    assert train_classifier(*args) == "trained"
    project.refresh_from_db()
    assert project.category_head != first and not default_storage.exists(first)
    assert CategoryClassifier.objects.get(project=project).requested_by == personas.owner


def test_one_category_trains_nothing_and_says_why(
    personas: Personas, labeled: dict[str, Any], training_queue: str
) -> None:
    squares = [m for m in labeled["masks"] if m.category_id == labeled["square"].pk]
    approve(personas, squares[:EVERY])
    [args] = queued_trainings(training_queue)
    assert train_classifier(*args) == "too few categories"
    project = Project.objects.get(pk=labeled["project"].pk)
    row = CategoryClassifier.objects.get(project=project)
    assert project.category_head == "" and not row.pending
    assert "at least 2 categories" in row.error
    page = personas.client("reviewer").get(f"/projects/{project.pk}/dashboard/")
    assert b"at least 2 categories" in page.content


def test_proposals_come_pre_filled_with_a_suggested_category(
    personas: Personas, labeled: dict[str, Any], training_queue: str, settings: Any
) -> None:
    project = trained(personas, labeled, training_queue)
    settings.ANYMASK_PROPOSAL_POINTS_PER_SIDE = 4
    Project.objects.filter(pk=project.pk).update(
        proposal_min_iou=0, proposal_min_stability=0, proposal_min_area=0
    )
    image = Image.objects.filter(project=project).first()
    assert image is not None
    drain_queue(settings.CELERY_QUEUE_AUTOMATIC)
    do_start_proposals(project, personas.owner, [image.pk])
    [(_, args)] = drain_queue(settings.CELERY_QUEUE_AUTOMATIC)
    assert run_proposals(*args) == "done"
    proposals = list(Annotation.objects.filter(image=image, status="proposed"))
    assert proposals
    ids = {labeled["square"].pk, labeled["disc"].pk}
    for proposal in proposals:
        assert proposal.category_id in ids
        assert proposal.category_confidence is not None and 0.5 <= proposal.category_confidence <= 1
    created = AnnotationEvent.objects.get(annotation_id=proposals[0].pk, action="created")
    assert created.changes["category"] == [None, proposals[0].category_id]
    assert created.changes["category_confidence"] == proposals[0].category_confidence
    # The API shows the suggestion's confidence with the mask.
    listed = api_for(personas.annotator).get(f"/projects/{project.pk}/annotations", image=image.pk)
    shown = {a["id"]: a for a in listed.json()["items"]}
    assert shown[proposals[0].pk]["category_confidence"] == proposals[0].category_confidence


def test_a_click_gets_a_suggested_category_for_every_candidate(
    personas: Personas, labeled: dict[str, Any], training_queue: str
) -> None:
    project = trained(personas, labeled, training_queue)
    image = Image.objects.filter(project=project).order_by("pk").first()
    assert image is not None
    runner = LoopThread()
    try:
        socket, _ = open_socket(runner, personas.annotator, image)
        reply = masks_for(
            socket, {"type": "prompt", "seq": 1, "points": [[260, 120]], "labels": [1]}
        )
        ids = {labeled["square"].pk, labeled["disc"].pk}
        assert reply["candidates"]
        for candidate in reply["candidates"]:
            suggestion = candidate["suggestion"]
            assert suggestion["category"] in ids and 0.5 <= suggestion["confidence"] <= 1
        # A hover preview is never saved: it carries no suggestion.
        hover = masks_for(
            socket, {"type": "prompt", "seq": 2, "points": [[40, 40]], "labels": [1], "hover": True}
        )
        assert all("suggestion" not in c for c in hover["candidates"])
    finally:
        runner.close()


def test_without_a_classifier_candidates_carry_no_suggestion(
    personas: Personas, labeled: dict[str, Any]
) -> None:
    image = Image.objects.filter(project=labeled["project"]).first()
    assert image is not None
    runner = LoopThread()
    try:
        socket, _ = open_socket(runner, personas.annotator, image)
        reply = masks_for(socket, {"type": "prompt", "seq": 1, "points": [[50, 50]], "labels": [1]})
        assert reply["candidates"] and all("suggestion" not in c for c in reply["candidates"])
    finally:
        runner.close()


def test_fixing_a_proposal_records_its_clicks(personas: Personas, labeled: dict[str, Any]) -> None:
    image = Image.objects.filter(project=labeled["project"]).first()
    assert image is not None
    _, square, _ = scene(0)
    proposal = do_create_annotation(
        image, None, rle=rle_encode(square), source="auto", status="proposed", score=0.9,
        category_id=labeled["disc"].pk, category_confidence=0.6,
    )  # fmt: skip
    runner = LoopThread()
    try:
        socket, _ = open_socket(runner, personas.annotator, image)
        fixed = square.copy()
        fixed[:5] = False
        edit = socket.request(
            {"type": "update", "seq": 1, "id": proposal.pk, "version": 1,
             "rle": rle_encode(fixed), "category": labeled["square"].pk, "clicks": 3}
        )  # fmt: skip
        assert edit["type"] == "saved"
        accepted = socket.request(
            {"type": "update", "seq": 2, "id": proposal.pk, "version": 2, "status": "draft",
             "clicks": 1}
        )  # fmt: skip
        assert accepted["annotation"]["status"] == "draft"
        bad = socket.request(
            {"type": "update", "seq": 3, "id": proposal.pk, "version": 3, "status": "draft",
             "clicks": -1}
        )  # fmt: skip
        assert bad["type"] == "error"
    finally:
        runner.close()
    row = Annotation.objects.get(pk=proposal.pk)
    assert (row.clicks, row.category_id, row.source) == (4, labeled["square"].pk, "auto")


def test_admins_train_reviewers_and_admins_see_quality(
    personas: Personas, labeled: dict[str, Any], training_queue: str
) -> None:
    pk = labeled["project"].pk
    api = f"/projects/{pk}/classifier"
    for who, status in (("owner", 200), ("reviewer", 200), ("annotator", 403), ("outsider", 404)):
        assert api_for(getattr(personas, who)).get(api).status_code == status, who
    for who, status in (("reviewer", 403), ("annotator", 403), ("outsider", 404)):
        assert api_for(getattr(personas, who)).call("POST", f"{api}/train").status_code == status
        page = personas.client(who).post(f"/projects/{pk}/classifier/train")
        assert page.status_code == status, who
    assert queued_trainings(training_queue) == []
    assert personas.client("annotator").get(f"/projects/{pk}/dashboard/").status_code == 403
    assert personas.client("owner").post(f"/projects/{pk}/classifier/train").status_code == 302
    assert queued_trainings(training_queue) == [[pk]]
    assert api_for(personas.reviewer).get(api).json()["pending"] is True


def test_the_dashboard_shows_the_held_out_accuracy_and_pre_filled_against_drawn(
    personas: Personas, labeled: dict[str, Any], training_queue: str
) -> None:
    project = trained(personas, labeled, training_queue)
    image = Image.objects.filter(project=project).first()
    assert image is not None
    _, square, disc = scene(0)
    for clicks in (1, 3):  # two accepted proposals, one fixed with two strokes
        do_create_annotation(
            image, None, rle=rle_encode(square), source="auto", status="draft", clicks=clicks
        )
    do_create_annotation(image, None, rle=rle_encode(disc), source="auto", status="proposed")
    page = personas.client("reviewer").get(f"/projects/{project.pk}/dashboard/")
    html = page.content.decode()
    row = CategoryClassifier.objects.get(project=project)
    assert 'id="classifier-quality"' in html
    accuracy = row.heldout_accuracy
    shown = "—" if accuracy is None else f"{round(accuracy * 100)}%"
    assert f'<strong data-stat="heldout-accuracy">{shown}</strong>' in html
    assert page.context["origins"]["prefill"].masks == 2  # the open proposal is not counted
    assert page.context["origins"]["prefill"].median_clicks == 2
    assert page.context["origins"]["hand"].masks == 12
    assert page.context["origins"]["hand"].median_clicks == 2
    assert 'data-origin="prefill"><td>Pre-filled' in html
    assert "Train now" not in html  # reviewers see quality; admins train
    quality = personas.client("reviewer").get(f"/projects/{project.pk}/quality/").content.decode()
    assert f'<strong data-stat="heldout-accuracy">{shown}</strong>' in quality
    assert personas.client("annotator").get(f"/projects/{project.pk}/quality/").status_code == 403
    assert (
        "Train now"
        in personas.client("owner").get(f"/projects/{project.pk}/dashboard/").content.decode()
    )


def test_approving_a_whole_image_checks_for_a_retrain_once(
    personas: Personas, labeled: dict[str, Any], training_queue: str, settings: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from labeling.services.review import do_review_image

    settings.ANYMASK_CLASSIFIER_RETRAIN_EVERY = 2
    image = labeled["masks"][0].image
    Image.objects.filter(pk=image.pk).update(labeling_status="submitted")
    image.refresh_from_db()
    with CaptureQueriesContext(connection) as queries:
        assert do_review_image(image, personas.reviewer, "approve", "") == 2
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1  # one check for the image's two approvals
    assert queued_trainings(training_queue) == [[labeled["project"].pk]]


def test_a_retrain_whose_worker_died_stops_blocking_after_an_hour(
    personas: Personas, labeled: dict[str, Any], training_queue: str
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    project = labeled["project"]
    api = api_for(personas.owner)
    assert api.call("POST", f"/projects/{project.pk}/classifier/train").json()["queued"]
    queued_trainings(training_queue)  # the task is lost with its worker
    assert not api.call("POST", f"/projects/{project.pk}/classifier/train").json()["queued"]
    CategoryClassifier.objects.filter(project=project).update(
        requested_at=timezone.now() - timedelta(hours=2)
    )
    assert api.call("POST", f"/projects/{project.pk}/classifier/train").json()["queued"]
    assert queued_trainings(training_queue) == [[project.pk]]
