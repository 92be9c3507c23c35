"""Review: submit, the review queue, approve or reject a whole image with a comment.

The whole path a team walks: annie submits, rita rejects with a comment, annie's
"next" brings the image back with the comment on it, she resubmits, rita approves,
and the export holds exactly the approved masks.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from inference.masks import rle_encode
from labeling.models import Annotation, AnnotationEvent, Category, Image, LabelingStatus
from labeling.services.annotations import do_create_annotation
from labeling.tasks import run_export
from tests.conftest import Personas, drain_queue, image_row

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def images(personas: Personas) -> list[Image]:
    return [image_row(personas.project, i) for i in range(3)]


def a_mask(image: Image, personas: Personas, status: str = "draft") -> Annotation:
    mask = np.zeros((10, 10), bool)
    mask[2:6, 2:6] = True
    car, _ = Category.objects.get_or_create(project=personas.project, name="car")
    return do_create_annotation(
        image, personas.annotator, rle=rle_encode(mask), source="sam", status=status,
        category_id=car.pk,
    )  # fmt: skip


def url(personas: Personas, image: Image, action: str) -> str:
    return f"/projects/{personas.project.pk}/images/{image.pk}/{action}"


def test_reject_returns_the_image_with_its_comment_and_approve_ships_it(
    personas: Personas, images: list[Image], settings: Any
) -> None:
    annie, rita = personas.client("annotator"), personas.client("reviewer")
    image = images[0]
    first = a_mask(image, personas)
    assert annie.post(url(personas, image, "submit")).status_code == 302
    queue = rita.get(f"/projects/{personas.project.pk}/review/").content.decode()
    assert f'data-image-id="{image.pk}"' in queue and "annie" in queue

    page = rita.get(url(personas, image, "label/")).content.decode()
    assert "Approve image" in page and "Reject image" in page
    refused = rita.post(url(personas, image, "review"), {"decision": "reject", "comment": " "})
    assert refused.status_code == 302  # back to the page with the reason
    assert Image.objects.get(pk=image.pk).labeling_status == LabelingStatus.SUBMITTED
    rita.post(url(personas, image, "review"), {"decision": "reject", "comment": "Tyre missing"})
    image.refresh_from_db()
    assert (
        image.labeling_status == LabelingStatus.REJECTED and image.reviewed_by == personas.reviewer
    )
    assert Annotation.objects.get(pk=first.pk).status == "rejected"
    assert image.claimed_by == personas.annotator  # nobody else's "next" takes it

    # Annie's next image is the rejected one, with the comment on it.
    go = annie.get(url(personas, images[2], "label/next-unlabeled"))
    assert go["Location"].endswith(f"/images/{image.pk}/label/")
    page = annie.get(go["Location"]).content.decode()
    assert "Sent back by rita" in page and "Tyre missing" in page

    # She adds the missing mask and resubmits.
    second = a_mask(image, personas)
    annie.post(url(personas, image, "submit"))
    assert Image.objects.get(pk=image.pk).labeling_status == LabelingStatus.SUBMITTED
    rita.post(url(personas, image, "review"), {"decision": "approve", "comment": "Good"})
    assert Image.objects.get(pk=image.pk).labeling_status == LabelingStatus.APPROVED
    assert Annotation.objects.get(pk=second.pk).status == "approved"
    assert Annotation.objects.get(pk=first.pk).status == "rejected"  # still out
    assert AnnotationEvent.objects.filter(annotation_id=second.pk, actor=personas.reviewer).exists()

    # The export (approved only, the default) holds exactly the approved mask.
    drain_queue(settings.CELERY_QUEUE_DEFAULT)
    owner = personas.client("owner")
    owner.post(
        f"/projects/{personas.project.pk}/exports/",
        {"statuses": ["approved"], "segmentation": "rle"},
    )
    ((_, args),) = drain_queue(settings.CELERY_QUEUE_DEFAULT)
    assert run_export(*args) == "done"
    response = owner.get(f"/projects/{personas.project.pk}/exports/{args[0]}/download")
    coco = json.loads(b"".join(response.streaming_content))  # type: ignore[attr-defined]
    assert [a["id"] for a in coco["annotations"]] == [second.pk]


def test_only_reviewers_and_admins_decide_and_only_on_submitted_images(
    personas: Personas, images: list[Image]
) -> None:
    image = images[0]
    mask = a_mask(image, personas)
    annie = personas.client("annotator")
    assert annie.post(url(personas, image, "review"), {"decision": "approve"}).status_code == 403
    assert (
        personas.client("outsider")
        .post(url(personas, image, "review"), {"decision": "approve"})
        .status_code
        == 404
    )
    assert annie.get(f"/projects/{personas.project.pk}/review/").status_code == 403
    owner = personas.client("owner")
    owner.post(url(personas, image, "review"), {"decision": "approve"})  # not submitted yet
    assert Image.objects.get(pk=image.pk).labeling_status == LabelingStatus.IN_PROGRESS
    assert Annotation.objects.get(pk=mask.pk).status == "draft"
    annie.post(url(personas, image, "submit"))
    long = "x" * 2001
    owner.post(url(personas, image, "review"), {"decision": "reject", "comment": long})
    owner.post(url(personas, image, "review"), {"decision": "maybe"})
    assert Image.objects.get(pk=image.pk).labeling_status == LabelingStatus.SUBMITTED
    owner.post(url(personas, image, "review"), {"decision": "approve"})
    assert Image.objects.get(pk=image.pk).labeling_status == LabelingStatus.APPROVED
