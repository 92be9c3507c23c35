"""The project page's socket: members get a `changed` nudge for every change the page
shows, strangers get no socket, and a burst of changes is one nudge."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from inference.masks import rle_encode
from labeling.models import Image, LabelingStatus, Membership
from labeling.services.annotations import do_create_annotation
from labeling.services.claims import do_claim_next
from labeling.services.review import do_submit_image
from tests.conftest import Personas, image_row, off_loop
from tests.test_consumer import LoopThread, Socket, headers_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def runner() -> Iterator[LoopThread]:
    running = LoopThread()
    yield running
    running.close()


def page_socket(runner: LoopThread, user: Any, project_id: int) -> Socket:
    return Socket(runner, 0, headers_for(user), path=f"/ws/projects/{project_id}/")


def open_page(runner: LoopThread, user: Any, project_id: int) -> Socket:
    socket = page_socket(runner, user, project_id)
    assert socket.connect()[0]
    hello = socket.receive()
    assert hello["type"] == "hello" and isinstance(hello["worker_events"], bool)
    return socket


def mask(size: int = 10) -> dict[str, Any]:
    pixels = np.zeros((size, size), dtype=bool)
    pixels[2:6, 2:6] = True
    return rle_encode(pixels)


def test_a_new_mask_nudges_every_open_project_page(runner: LoopThread, personas: Personas) -> None:
    image = image_row(personas.project, 1)
    pages = [
        open_page(runner, who, personas.project.pk) for who in (personas.owner, personas.reviewer)
    ]
    off_loop(do_create_annotation, image, personas.annotator, rle=mask(), source="sam")
    for page in pages:
        assert page.receive(timeout=5) == {"type": "changed"}


def test_claims_and_submits_nudge_the_page(runner: LoopThread, personas: Personas) -> None:
    image = image_row(personas.project, 1)
    page = open_page(runner, personas.owner, personas.project.pk)
    assert off_loop(do_claim_next, personas.project, personas.annotator) == image
    assert page.receive(timeout=5) == {"type": "changed"}
    off_loop(do_submit_image, image, personas.annotator)
    assert page.receive(timeout=5) == {"type": "changed"}
    assert Image.objects.get(pk=image.pk).labeling_status == LabelingStatus.SUBMITTED


def test_a_burst_of_changes_is_one_nudge(runner: LoopThread, personas: Personas) -> None:
    image = image_row(personas.project, 1)
    page = open_page(runner, personas.owner, personas.project.pk)
    started = time.monotonic()
    for _ in range(20):
        off_loop(do_create_annotation, image, personas.annotator, rle=mask(), source="sam")
    burst = time.monotonic() - started
    nudges = 0
    while not page.quiet(0.5):  # each frame that arrives ends one wait
        nudges += 1
    # One nudge per NUDGE_EVERY (0.1 s) of the burst at most, never one per change.
    assert 1 <= nudges <= 2 + int(burst / 0.1) and nudges < 20


def test_changes_elsewhere_do_not_nudge(runner: LoopThread, personas: Personas) -> None:
    other = Membership.objects.get(user=personas.outsider).project
    page = open_page(runner, personas.owner, personas.project.pk)
    off_loop(do_create_annotation, image_row(other, 9), personas.outsider, rle=mask(), source="sam")
    assert page.quiet(0.6)


@pytest.mark.parametrize("who", ["outsider", "anonymous"])
def test_it_refuses_people_outside_the_project(
    runner: LoopThread, personas: Personas, who: str
) -> None:
    user = None if who == "anonymous" else personas.outsider
    assert page_socket(runner, user, personas.project.pk).connect()[0] is False
    assert page_socket(runner, personas.owner, 10**17).connect()[0] is False


def test_a_removed_member_s_page_socket_closes_at_the_next_nudge(
    runner: LoopThread, personas: Personas
) -> None:
    image = image_row(personas.project, 1)
    page = open_page(runner, personas.reviewer, personas.project.pk)
    Membership.objects.filter(user=personas.reviewer, project=personas.project).delete()
    off_loop(do_create_annotation, image, personas.annotator, rle=mask(), source="sam")
    assert page.receive(timeout=5) == {"closed": 4403}
