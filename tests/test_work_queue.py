"""The work queue: "next unlabeled" hands each annotator a different image.

Concurrency is tested with real threads, each on its own database connection, all
released at once by a barrier: on PostgreSQL (CI) that is true concurrency, and the
conditional UPDATE's row count is what keeps two people off one image.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone

from inference.masks import rle_encode
from labeling.models import Annotation, AnnotationEvent, Image, LabelingStatus, Membership, Role
from labeling.services.annotations import do_create_annotation
from labeling.services.claims import do_claim_next
from tests.conftest import Personas, image_row, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def images(personas: Personas) -> list[Image]:
    return [image_row(personas.project, i) for i in range(6)]


def next_image(client: Client, personas: Personas, after: Image) -> int | None:
    """Press N on `after`'s page; the id of the image it lands on (None: project page)."""
    url = f"/projects/{personas.project.pk}/images/{after.pk}/label/next-unlabeled"
    response = client.get(url)
    assert response.status_code == 302
    parts = response["Location"].rstrip("/").split("/")
    return int(parts[-2]) if parts[-1] == "label" else None


def test_two_annotators_pressing_next_get_different_images(
    personas: Personas, images: list[Image]
) -> None:
    second = make_user("bob")
    Membership.objects.create(project=personas.project, user=second, role=Role.ANNOTATOR)
    annie, bob = personas.client("annotator"), Client()
    bob.force_login(second)
    got_annie = next_image(annie, personas, images[0])
    got_bob = next_image(bob, personas, images[0])
    assert got_annie and got_bob and got_annie != got_bob
    # The project grid shows who holds what.
    status = personas.client("owner").get(f"/projects/{personas.project.pk}/status.json").json()
    claims = {row["id"]: row["claimed_by"] for row in status["images"]}
    assert claims[got_annie] == "annie" and claims[got_bob] == "bob"
    page = personas.client("owner").get(f"/projects/{personas.project.pk}/").content.decode()
    assert "✎ annie" in page and "✎ bob" in page


def test_pressing_next_at_the_same_instant_never_hands_out_one_image_twice(
    personas: Personas, images: list[Image]
) -> None:
    people = [make_user(f"worker{i}") for i in range(6)]
    for person in people:
        Membership.objects.create(project=personas.project, user=person, role=Role.ANNOTATOR)
    barrier = threading.Barrier(len(people))
    got: dict[str, Any] = {}

    def press(person: User) -> None:
        try:
            barrier.wait(10)
            image = do_claim_next(personas.project, person)
            got[person.username] = image.pk if image else None
        except Exception as error:  # reported below, not lost in the thread
            got[person.username] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=press, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(got.values()) == sorted(image.pk for image in images)  # all six, once each
    holders = dict(Image.objects.values_list("pk", "claimed_by__username"))
    assert {holders[pk] for pk in got.values()} == set(got)


def test_a_stale_claim_is_free_again_and_moving_on_releases_the_old_one(
    personas: Personas, images: list[Image], settings: Any
) -> None:
    settings.ANYMASK_CLAIM_MINUTES = 30
    Image.objects.exclude(pk=images[0].pk).update(labeling_status=LabelingStatus.APPROVED)
    owner = personas.owner
    assert do_claim_next(personas.project, personas.annotator) == images[0]
    assert do_claim_next(personas.project, owner) is None  # annie holds the only one
    Image.objects.filter(pk=images[0].pk).update(claimed_at=timezone.now() - timedelta(minutes=31))
    assert do_claim_next(personas.project, owner) == images[0]  # nobody worked for 31 min
    Image.objects.filter(pk=images[1].pk).update(labeling_status=LabelingStatus.UNLABELED)
    assert do_claim_next(personas.project, owner, after=images[0].pk) == images[1]
    assert Image.objects.get(pk=images[0].pk).claimed_by is None  # released on moving on


def test_opening_someone_elses_image_shows_it_and_does_not_take_it(
    personas: Personas, images: list[Image]
) -> None:
    annie = personas.client("annotator")
    mine = next_image(annie, personas, images[-1])
    assert mine is not None
    owner = personas.client("owner")
    page = owner.get(f"/projects/{personas.project.pk}/images/{mine}/label/").content.decode()
    assert "annie is working on this image" in page
    assert Image.objects.get(pk=mine).claimed_by == personas.annotator
    # A free image opened from the grid is claimed by whoever opened it.
    free = next(i for i in images if i.pk != mine)
    owner.get(f"/projects/{personas.project.pk}/images/{free.pk}/label/")
    assert Image.objects.get(pk=free.pk).claimed_by == personas.owner


def test_reviewers_browse_without_claiming(personas: Personas, images: list[Image]) -> None:
    rita = personas.client("reviewer")
    assert next_image(rita, personas, images[0]) == images[1].pk
    rita.get(f"/projects/{personas.project.pk}/images/{images[1].pk}/label/")
    assert not Image.objects.filter(claimed_by__isnull=False).exists()


def test_submitting_sends_the_image_to_review_and_hands_out_the_next(
    personas: Personas, images: list[Image]
) -> None:
    mask = np.zeros((10, 10), bool)
    mask[1:4, 1:4] = True
    annie = personas.client("annotator")
    mine = next_image(annie, personas, images[-1])
    assert mine is not None
    image = Image.objects.get(pk=mine)
    draft = do_create_annotation(image, personas.annotator, rle=rle_encode(mask), source="sam")
    approved = do_create_annotation(
        image, personas.annotator, rle=rle_encode(mask), source="sam", status="approved"
    )
    response = annie.post(f"/projects/{personas.project.pk}/images/{mine}/submit")
    assert response.status_code == 302
    following = int(response["Location"].rstrip("/").split("/")[-2])
    assert following != mine
    image.refresh_from_db()
    assert image.labeling_status == LabelingStatus.SUBMITTED and image.claimed_by is None
    assert Annotation.objects.get(pk=draft.pk).status == "submitted"
    assert Annotation.objects.get(pk=approved.pk).status == "approved"  # review's word stands
    assert AnnotationEvent.objects.filter(annotation_id=draft.pk, action="updated").exists()
    assert Image.objects.get(pk=following).claimed_by == personas.annotator
    # Only people who annotate submit.
    rita = personas.client("reviewer")
    assert (
        rita.post(f"/projects/{personas.project.pk}/images/{following}/submit").status_code == 403
    )
