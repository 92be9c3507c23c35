"""Masks keep an append-only history, and stale writes never overwrite newer ones."""

from __future__ import annotations

import io

import numpy as np
import pytest

from inference.masks import rle_decode, rle_encode
from labeling.models import (
    Annotation,
    AnnotationEvent,
    AppendOnlyError,
    Category,
    Image,
    LabelingStatus,
)
from labeling.services.annotations import (
    VersionConflict,
    do_create_annotation,
    do_delete_annotation,
    do_update_annotation,
)
from labeling.services.errors import ServiceError
from labeling.services.uploads import do_add_image
from tests.conftest import Personas, image_bytes


def square(top: int, left: int, size: int, shape: tuple[int, int] = (48, 64)) -> dict:
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + size, left : left + size] = True
    return rle_encode(mask)


@pytest.fixture
def image(personas: Personas) -> Image:
    return do_add_image(personas.project, personas.owner, io.BytesIO(image_bytes()), "a.png")


@pytest.fixture
def car(personas: Personas) -> Category:
    return Category.objects.create(project=personas.project, name="car")


def test_creating_a_mask_records_who_and_what(
    personas: Personas, image: Image, car: Category
) -> None:
    annotation = do_create_annotation(
        image,
        personas.annotator,
        rle=square(10, 20, 8),
        source="sam",
        category_id=car.pk,
        score=0.93,
    )
    assert (annotation.area, annotation.bbox, annotation.version) == (64, [20.0, 10.0, 8.0, 8.0], 1)
    event = AnnotationEvent.objects.get(annotation_id=annotation.pk)
    assert (event.action, event.actor, event.version) == ("created", personas.annotator, 1)
    assert event.changes["category"] == [None, car.pk]
    assert rle_decode(event.changes["rle"]).sum() == 64
    image.refresh_from_db()
    assert image.labeling_status == LabelingStatus.IN_PROGRESS


def test_an_update_bumps_the_version_and_logs_the_change(
    personas: Personas, image: Image, car: Category
) -> None:
    annotation = do_create_annotation(image, personas.annotator, rle=square(0, 0, 4), source="sam")
    updated = do_update_annotation(
        image,
        annotation.pk,
        personas.reviewer,
        expected_version=1,
        rle=square(0, 0, 6),
        category_id=car.pk,
        status="approved",
    )
    assert (updated.version, updated.area, updated.status, updated.updated_by) == (
        2,
        36,
        "approved",
        personas.reviewer,
    )
    history = list(AnnotationEvent.objects.filter(annotation_id=annotation.pk))
    assert [e.action for e in history] == ["created", "updated"]
    assert history[1].changes["mask"]["area"] == [16, 36]
    assert history[1].changes["status"] == ["draft", "approved"]


def test_a_stale_version_gets_a_conflict_and_changes_nothing(
    personas: Personas, image: Image
) -> None:
    annotation = do_create_annotation(image, personas.annotator, rle=square(0, 0, 4), source="sam")
    do_update_annotation(
        image, annotation.pk, personas.owner, expected_version=1, status="submitted"
    )
    with pytest.raises(VersionConflict) as conflict:
        do_update_annotation(
            image, annotation.pk, personas.annotator, expected_version=1, rle=square(5, 5, 9)
        )
    assert conflict.value.current.version == 2
    annotation.refresh_from_db()
    assert (annotation.area, annotation.status, annotation.version) == (16, "submitted", 2)
    assert AnnotationEvent.objects.filter(annotation_id=annotation.pk).count() == 2
    with pytest.raises(VersionConflict):
        do_delete_annotation(image, annotation.pk, personas.annotator, expected_version=1)
    assert Annotation.objects.filter(pk=annotation.pk).exists()


def test_history_outlives_a_deleted_mask(personas: Personas, image: Image) -> None:
    annotation = do_create_annotation(image, personas.annotator, rle=square(0, 0, 4), source="sam")
    do_delete_annotation(image, annotation.pk, personas.owner, expected_version=1)
    assert not Annotation.objects.filter(pk=annotation.pk).exists()
    actions = AnnotationEvent.objects.filter(annotation_id=annotation.pk)
    assert [(e.action, e.actor) for e in actions] == [
        ("created", personas.annotator),
        ("deleted", personas.owner),
    ]


def test_history_cannot_be_rewritten_or_erased(personas: Personas, image: Image) -> None:
    annotation = do_create_annotation(image, personas.annotator, rle=square(0, 0, 4), source="sam")
    event = AnnotationEvent.objects.get(annotation_id=annotation.pk)
    event.action = "deleted"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    assert AnnotationEvent.objects.get(pk=event.pk).action == "created"


@pytest.mark.parametrize(
    ("rle", "message"),
    [
        (square(0, 0, 4, shape=(10, 10)), "the image is 64×48"),
        ({"size": [48, 64], "counts": "!!garbage"}, "not valid COCO RLE"),
        (rle_encode(np.zeros((48, 64), dtype=bool)), "The mask is empty"),
        ("not even a dict", "not valid COCO RLE"),
    ],
)
def test_it_refuses_bad_masks(personas: Personas, image: Image, rle: object, message: str) -> None:
    with pytest.raises(ServiceError, match=message):
        do_create_annotation(image, personas.annotator, rle=rle, source="manual")
    assert not Annotation.objects.exists() and not AnnotationEvent.objects.exists()


def test_it_rejects_a_category_from_another_project(personas: Personas, image: Image) -> None:
    foreign_project = personas.outsider.memberships.get().project
    foreign = Category.objects.create(project=foreign_project, name="alien")
    with pytest.raises(ServiceError, match="No such category"):
        do_create_annotation(
            image, personas.annotator, rle=square(0, 0, 4), source="sam", category_id=foreign.pk
        )
