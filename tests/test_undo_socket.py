"""Undo over the labeling socket: `revert` and `restore` answer like `update`
(`saved`, or `conflict` with the current mask), other pages see the result live,
and a role without the ability is refused as for any other write."""

from __future__ import annotations

import pytest

from labeling.models import Annotation, Category, Image
from labeling.services.annotations import do_create_annotation, do_update_annotation
from tests import test_consumer
from tests.conftest import Personas
from tests.test_consumer import LoopThread, Socket, headers_for, open_socket, square_rle

# The consumer tests' fixtures: a tiny SAM project, an embedded image, an event loop.
tiny_sam, shared_media = test_consumer.tiny_sam, test_consumer.shared_media
project, image, runner = test_consumer.project, test_consumer.image, test_consumer.runner

pytestmark = pytest.mark.django_db(transaction=True)


def test_undo_and_redo_of_a_delete_and_of_a_recategorise(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    car = Category.objects.create(project=image.project, name="car")
    row = do_create_annotation(image, personas.annotator, rle=square_rle(), source="manual")
    socket, _ = open_socket(runner, personas.annotator, image)
    watcher, _ = open_socket(runner, personas.owner, image)

    changed = socket.request({"type": "update", "seq": 1, "id": row.pk, "version": 1,
                              "category": car.pk})  # fmt: skip
    assert changed["annotation"]["version"] == 2
    assert watcher.receive()["type"] == "annotation.updated"
    undone = socket.request({"type": "revert", "seq": 2, "id": row.pk, "version": 2})
    assert undone["type"] == "saved" and undone["seq"] == 2
    assert (undone["annotation"]["category"], undone["annotation"]["version"]) == (None, 3)
    pushed = watcher.receive()
    assert pushed["type"] == "annotation.updated" and pushed["annotation"]["category"] is None

    assert socket.request({"type": "delete", "seq": 3, "id": row.pk, "version": 3})["type"] == (
        "deleted"
    )
    assert watcher.receive() == {"type": "annotation.deleted", "id": row.pk, "by": "annie"}
    back = socket.request({"type": "restore", "seq": 4, "id": row.pk, "version": 3})
    assert back["type"] == "saved" and back["annotation"]["id"] == row.pk
    assert back["annotation"]["version"] == 4
    pushed = watcher.receive()
    assert pushed["type"] == "annotation.created" and pushed["annotation"]["id"] == row.pk
    # A second restore (from a page that missed the first): the mask is there already.
    twice = socket.request({"type": "restore", "seq": 5, "id": row.pk, "version": 3})
    assert twice["type"] == "conflict" and twice["annotation"]["version"] == 4


def test_a_revert_after_someone_elses_edit_is_a_conflict(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    row = do_create_annotation(image, personas.annotator, rle=square_rle(), source="manual")
    socket, _ = open_socket(runner, personas.annotator, image)
    socket.request({"type": "update", "seq": 1, "id": row.pk, "version": 1,
                    "rle": square_rle(side=30)})  # fmt: skip
    do_update_annotation(image, row.pk, personas.owner, expected_version=2, rle=square_rle(side=5))
    socket.send({"type": "revert", "seq": 2, "id": row.pk, "version": 2})
    # The owner's edit is pushed too; the reply to the revert is what this test is about.
    while (stale := socket.receive()).get("seq") != 2:
        pass
    assert stale["type"] == "conflict" and stale["seq"] == 2
    assert (stale["annotation"]["version"], stale["annotation"]["area"]) == (3, 25)
    row.refresh_from_db()
    assert (row.version, row.area) == (3, 25)
    missing = socket.request({"type": "revert", "seq": 3, "id": row.pk, "version": 77})
    assert missing["type"] == "error" and missing["code"] == "not_found"
    bad = socket.request({"type": "restore", "seq": 4, "id": row.pk})
    assert bad["code"] == "invalid"


def test_a_reviewer_takes_back_a_verdict_and_an_annotator_cannot(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    row = do_create_annotation(image, personas.annotator, rle=square_rle(), source="manual")
    reviewer, _ = open_socket(runner, personas.reviewer, image)
    reviewer.request({"type": "update", "seq": 1, "id": row.pk, "version": 1,
                      "status": "approved"})  # fmt: skip
    undone = reviewer.request({"type": "revert", "seq": 2, "id": row.pk, "version": 2})
    assert undone["annotation"]["status"] == "draft"
    redone = reviewer.request({"type": "revert", "seq": 3, "id": row.pk, "version": 3})
    assert redone["annotation"]["status"] == "approved"

    annotator, _ = open_socket(runner, personas.annotator, image)
    refused = annotator.request({"type": "revert", "seq": 1, "id": row.pk, "version": 4})
    assert refused["code"] == "forbidden" and annotator.receive() == {"closed": 4403}
    row.refresh_from_db()
    assert (row.status, row.version) == ("approved", 4)


def test_outsiders_and_reviewers_cannot_restore_a_deleted_mask(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    row = do_create_annotation(image, personas.annotator, rle=square_rle(), source="manual")
    annotator, _ = open_socket(runner, personas.annotator, image)
    annotator.request({"type": "delete", "seq": 1, "id": row.pk, "version": 1})
    outsider = Socket(runner, image.pk, headers_for(personas.outsider))
    assert not outsider.connect()[0]
    reviewer, _ = open_socket(runner, personas.reviewer, image)
    refused = reviewer.request({"type": "restore", "seq": 1, "id": row.pk, "version": 1})
    assert refused["code"] == "forbidden" and reviewer.receive() == {"closed": 4403}
    assert not Annotation.objects.filter(pk=row.pk).exists()
