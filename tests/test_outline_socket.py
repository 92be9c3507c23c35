"""The labeling socket's `outline` request: a saved mask as editable rings, through
the real ASGI application, database and channel layer. Saving the edited rings is an
ordinary versioned `update`, so a stale outline gets the ordinary conflict."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from inference.masks import rle_decode, rle_encode
from inference.outlines import rings_to_mask
from labeling.models import Annotation
from labeling.services.annotations import do_create_annotation
from tests.conftest import Personas, image_row, off_loop
from tests.test_consumer import LoopThread, Socket, headers_for

pytestmark = pytest.mark.django_db(transaction=True)

WIDTH, HEIGHT = 200, 150


@pytest.fixture
def runner() -> Iterator[LoopThread]:
    running = LoopThread()
    yield running
    running.close()


def holed_square() -> np.ndarray:
    """An 80 px square with a 30 px square hole: the shape SAM often gets almost right."""
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[30:110, 40:120] = True
    mask[55:85, 65:95] = False
    return mask


def open_socket(runner: LoopThread, user: object, image_id: int) -> Socket:
    socket = Socket(runner, image_id, headers_for(user))  # type: ignore[arg-type]
    assert socket.connect()[0]
    assert socket.receive()["type"] == "hello"
    return socket


def rings_of(reply: dict[str, Any]) -> list[np.ndarray]:
    return [np.array(ring, dtype=float).reshape(-1, 2) for ring in reply["rings"]]


def test_an_outline_keeps_the_hole_and_saving_it_stores_a_new_version(
    runner: LoopThread, personas: Personas
) -> None:
    image = image_row(personas.project, 1, (WIDTH, HEIGHT))
    mask = holed_square()
    row = off_loop(do_create_annotation, image, personas.owner, rle=rle_encode(mask), source="sam")
    socket = open_socket(runner, personas.annotator, image.pk)

    reply = socket.request({"type": "outline", "seq": 1, "id": row.pk})
    assert reply["type"] == "outline" and reply["seq"] == 1
    assert (reply["id"], reply["version"], reply["tolerance"]) == (row.pk, 1, 1.0)
    rings = rings_of(reply)
    assert [len(r) for r in rings] == [4, 4]  # the square and its hole, four corners each
    back = rings_to_mask(rings, HEIGHT, WIDTH)
    assert (back & mask).sum() / (back | mask).sum() >= 0.98

    # Drag the outer ring's corners 10 px out on the right; the page saves the fill.
    outer = rings[0]
    outer[outer[:, 0] > 100, 0] += 10
    edited = rings_to_mask([outer, rings[1]], HEIGHT, WIDTH)
    update = {"type": "update", "seq": 2, "id": row.pk, "version": 1, "rle": rle_encode(edited)}
    saved = socket.request(update)
    assert saved["type"] == "saved" and saved["annotation"]["version"] == 2
    stored = rle_decode(Annotation.objects.get(pk=row.pk).rle)
    assert not stored[70, 80]  # the hole is still a hole
    assert stored[70, 125] and stored.sum() == mask.sum() + 10 * 80

    # Someone saved in between: the outline read at version 1 gets a conflict.
    stale = socket.request(update | {"seq": 3})
    assert stale["type"] == "conflict" and stale["annotation"]["version"] == 2


def test_it_rejects_bad_outline_requests_with_clear_errors(
    runner: LoopThread, personas: Personas
) -> None:
    image = image_row(personas.project, 1, (WIDTH, HEIGHT))
    other = image_row(personas.project, 2, (WIDTH, HEIGHT))
    row = off_loop(
        do_create_annotation, image, personas.owner, rle=rle_encode(holed_square()), source="sam"
    )
    foreign = off_loop(
        do_create_annotation, other, personas.owner, rle=rle_encode(holed_square()), source="sam"
    )
    speckle = np.random.default_rng(0).random((HEIGHT, WIDTH)) < 0.5
    noisy = off_loop(
        do_create_annotation, image, personas.owner, rle=rle_encode(speckle), source="sam"
    )
    socket = open_socket(runner, personas.annotator, image.pk)

    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"id": foreign.pk}, "not_found", "no longer exists"),  # a mask of another image
        ({"id": 10**9}, "not_found", "no longer exists"),
        ({"id": "1"}, "invalid", "`id`"),
        ({"id": row.pk, "tolerance": 0}, "invalid", "`tolerance`"),
        ({"id": row.pk, "tolerance": 1000}, "invalid", "`tolerance`"),
        ({"id": noisy.pk}, "too_complex", "brush and eraser"),
    ]
    for seq, (fields, code, detail) in enumerate(cases, start=1):
        reply = socket.request({"type": "outline", "seq": seq, **fields})
        assert reply["type"] == "error" and reply["seq"] == seq, reply
        assert reply["code"] == code and detail in reply["detail"], reply
    # The socket stays open after all that.
    assert socket.request({"type": "ping", "seq": 99}) == {"type": "pong", "seq": 99}


def test_a_reviewer_cannot_ask_for_an_outline_to_edit(
    runner: LoopThread, personas: Personas
) -> None:
    image = image_row(personas.project, 1, (WIDTH, HEIGHT))
    row = off_loop(
        do_create_annotation, image, personas.owner, rle=rle_encode(holed_square()), source="sam"
    )
    reviewer = open_socket(runner, personas.reviewer, image.pk)
    refused = reviewer.request({"type": "outline", "seq": 1, "id": row.pk})
    assert refused["type"] == "error" and refused["code"] == "forbidden"
    assert reviewer.receive() == {"closed": 4403}


def test_an_outsider_never_gets_an_outline(runner: LoopThread, personas: Personas) -> None:
    image = image_row(personas.project, 1, (WIDTH, HEIGHT))
    socket = Socket(runner, image.pk, headers_for(personas.outsider))
    assert not socket.connect()[0]
