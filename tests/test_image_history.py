"""The labeling page's History panel feed: who changed which mask, and when."""

from __future__ import annotations

import numpy as np
import pytest

from inference.masks import rle_encode
from labeling.models import Category
from labeling.services.annotations import (
    do_create_annotation,
    do_delete_annotation,
    do_update_annotation,
)
from tests.conftest import Personas, image_row

pytestmark = pytest.mark.django_db


def test_the_history_reads_newest_first_in_words_without_pixels(personas: Personas) -> None:
    image = image_row(personas.project, 1)
    car = Category.objects.create(project=personas.project, name="car")
    mask = np.zeros((10, 10), bool)
    mask[1:3, 1:3] = True
    row = do_create_annotation(
        image, personas.annotator, rle=rle_encode(mask), source="sam", category_id=car.pk
    )
    mask[1:6, 1:6] = True
    do_update_annotation(
        image, row.pk, personas.annotator, expected_version=1, rle=rle_encode(mask)
    )
    do_update_annotation(image, row.pk, personas.reviewer, expected_version=2, status="approved")
    do_delete_annotation(image, row.pk, personas.owner, expected_version=3)

    url = f"/projects/{personas.project.pk}/images/{image.pk}/history.json"
    response = personas.client("reviewer").get(url)
    history = response.json()["history"]
    assert [(h["by"], h["action"], h["what"]) for h in history] == [
        ("owner", "deleted", ["deleted"]),
        ("rita", "updated", ["draft → approved"]),
        ("annie", "updated", ["mask edited (25 px)"]),
        ("annie", "created", ["added (sam)", "as car"]),
    ]
    assert all(h["annotation"] == row.pk for h in history)
    assert b"counts" not in response.content  # no RLE in the feed
    assert personas.client("outsider").get(url).status_code == 404
