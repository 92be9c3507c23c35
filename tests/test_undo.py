"""Undo as forward operations: reverting a change and restoring a deleted mask, in the
service and the JSON API. History only grows; stale versions conflict; access is the
permissions module's (reviewers take back verdicts, annotators edits)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from inference.masks import rle_decode, rle_encode
from labeling.models import Annotation, AnnotationEvent, Category, Image
from labeling.services.annotations import (
    VersionConflict,
    do_create_annotation,
    do_delete_annotation,
    do_update_annotation,
)
from labeling.services.history import image_history
from labeling.services.undo import RestoreConflict, do_restore_annotation, do_revert_change
from labeling.services.uploads import do_add_image
from tests.api_helpers import api_for
from tests.conftest import Personas, image_bytes

pytestmark = pytest.mark.django_db


def square(top: int, left: int, size: int) -> dict:
    mask = np.zeros((48, 64), dtype=bool)
    mask[top : top + size, left : left + size] = True
    return rle_encode(mask)


@pytest.fixture
def image(personas: Personas) -> Image:
    return do_add_image(personas.project, personas.owner, io.BytesIO(image_bytes()), "a.png")


@pytest.fixture
def car(personas: Personas) -> Category:
    return Category.objects.create(project=personas.project, name="car")


@pytest.fixture
def tree(personas: Personas) -> Category:
    return Category.objects.create(project=personas.project, name="tree")


def mask_of(image: Image, personas: Personas, category: Category | None = None) -> Annotation:
    return do_create_annotation(
        image,
        personas.annotator,
        rle=square(5, 5, 10),
        source="sam",
        category_id=category.pk if category else None,
        score=0.9,
        clicks=3,
        edit_seconds=4.5,
    )


def actions(annotation_id: int) -> list[tuple[str, int]]:
    rows = AnnotationEvent.objects.filter(annotation_id=annotation_id).order_by("id")
    return list(rows.values_list("action", "version"))


# ---------------------------------------------------------------------- services


def test_reverting_a_recategorise_brings_the_old_category_back_as_a_new_version(
    personas: Personas, image: Image, car: Category, tree: Category
) -> None:
    row = mask_of(image, personas, car)
    do_update_annotation(image, row.pk, personas.annotator, expected_version=1, category_id=tree.pk)
    undone = do_revert_change(image, row.pk, personas.annotator, expected_version=2)
    assert (undone.category_id, undone.version) == (car.pk, 3)
    redone = do_revert_change(image, row.pk, personas.annotator, expected_version=3)
    assert (redone.category_id, redone.version) == (tree.pk, 4)
    assert actions(row.pk) == [("created", 1), ("updated", 2), ("updated", 3), ("updated", 4)]
    latest = image_history(image)[0]
    assert latest["what"] == ["undid the change to v3:", "category car → tree"]


def test_reverting_a_brush_edit_restores_the_previous_pixels(
    personas: Personas, image: Image
) -> None:
    row = mask_of(image, personas)
    before = rle_decode(row.rle).copy()
    do_update_annotation(
        image, row.pk, personas.annotator, expected_version=1, rle=square(0, 0, 30)
    )
    undone = do_revert_change(image, row.pk, personas.annotator, expected_version=2)
    assert np.array_equal(rle_decode(undone.rle), before)
    assert (undone.area, undone.bbox) == (100, [5.0, 5.0, 10.0, 10.0])
    # Redo (revert of the revert) is the edit again.
    redone = do_revert_change(image, row.pk, personas.annotator, expected_version=3)
    assert redone.area == 900


def test_reverting_a_verdict_returns_the_mask_to_its_previous_status_and_comment(
    personas: Personas, image: Image
) -> None:
    row = mask_of(image, personas)
    do_update_annotation(image, row.pk, personas.annotator, expected_version=1, status="submitted")
    do_update_annotation(
        image, row.pk, personas.reviewer, expected_version=2, status="rejected",
        review_comment="Too loose",
    )  # fmt: skip
    undone = do_revert_change(image, row.pk, personas.reviewer, expected_version=3)
    assert (undone.status, undone.review_comment, undone.version) == ("submitted", "", 4)


def test_a_stale_revert_is_a_conflict_and_changes_nothing(
    personas: Personas, image: Image, car: Category, tree: Category
) -> None:
    row = mask_of(image, personas, car)
    do_update_annotation(image, row.pk, personas.annotator, expected_version=1, category_id=tree.pk)
    # Someone else edits the mask after the change being undone.
    do_update_annotation(image, row.pk, personas.owner, expected_version=2, rle=square(0, 0, 4))
    with pytest.raises(VersionConflict) as conflict:
        do_revert_change(image, row.pk, personas.annotator, expected_version=2)
    assert conflict.value.current.version == 3
    assert "Someone else changed this mask" in conflict.value.message
    row.refresh_from_db()
    assert (row.category_id, row.area, row.version) == (tree.pk, 16, 3)


def test_restoring_a_deleted_mask_brings_it_back_with_its_id_and_everything(
    personas: Personas, image: Image, car: Category
) -> None:
    row = mask_of(image, personas, car)
    do_update_annotation(image, row.pk, personas.annotator, expected_version=1, status="submitted")
    do_delete_annotation(image, row.pk, personas.owner, expected_version=2)
    assert not Annotation.objects.filter(pk=row.pk).exists()
    back = do_restore_annotation(image, row.pk, personas.owner, expected_version=2)
    assert (back.pk, back.version, back.category_id, back.status) == (
        row.pk,
        3,
        car.pk,
        "submitted",
    )
    assert (back.rle, back.area, back.bbox) == (row.rle, row.area, row.bbox)
    assert (back.source, back.score, back.clicks, back.edit_seconds) == ("sam", 0.9, 3, 4.5)
    assert (back.created_by, back.updated_by) == (personas.annotator, personas.owner)
    assert back.created_at == row.created_at
    assert actions(row.pk) == [("created", 1), ("updated", 2), ("deleted", 2), ("restored", 3)]
    assert image_history(image)[0]["what"] == ["restored (undo of its delete at v2)"]
    # Redo of the delete is a delete at the new version; then a restore again.
    do_delete_annotation(image, row.pk, personas.owner, expected_version=3)
    assert do_restore_annotation(image, row.pk, personas.owner, expected_version=3).version == 4


def test_restoring_twice_or_from_a_stale_delete_is_a_conflict(
    personas: Personas, image: Image
) -> None:
    row = mask_of(image, personas)
    do_delete_annotation(image, row.pk, personas.annotator, expected_version=1)
    do_restore_annotation(image, row.pk, personas.owner, expected_version=1)
    with pytest.raises(VersionConflict) as conflict:  # someone else brought it back first
        do_restore_annotation(image, row.pk, personas.annotator, expected_version=1)
    assert conflict.value.current.pk == row.pk
    do_delete_annotation(image, row.pk, personas.owner, expected_version=2)
    with pytest.raises(RestoreConflict, match="restored and deleted again by owner"):
        do_restore_annotation(image, row.pk, personas.annotator, expected_version=1)
    assert not Annotation.objects.filter(pk=row.pk).exists()


def test_undo_never_rewrites_history(personas: Personas, image: Image, car: Category) -> None:
    row = mask_of(image, personas, car)
    do_update_annotation(image, row.pk, personas.annotator, expected_version=1, category_id=None)
    snapshot = list(AnnotationEvent.objects.order_by("id").values())
    do_revert_change(image, row.pk, personas.annotator, expected_version=2)
    do_delete_annotation(image, row.pk, personas.annotator, expected_version=3)
    do_restore_annotation(image, row.pk, personas.annotator, expected_version=3)
    after = list(AnnotationEvent.objects.order_by("id").values())
    assert after[: len(snapshot)] == snapshot and len(after) == len(snapshot) + 3


# --------------------------------------------------------------------------- API


def test_the_api_reverts_and_restores_with_versions(
    personas: Personas, image: Image, car: Category, tree: Category
) -> None:
    row = mask_of(image, personas, car)
    api = api_for(personas.annotator)
    base = f"/projects/{personas.project.pk}/annotations/{row.pk}"
    assert api.call("PATCH", base, {"version": 1, "category": tree.pk}).status_code == 200
    reverted = api.call("POST", f"{base}/revert", {"version": 2})
    assert reverted.status_code == 200
    assert (reverted.json()["category"], reverted.json()["version"]) == (car.pk, 3)
    stale = api.call("POST", f"{base}/revert", {"version": 2})
    assert stale.status_code == 409 and stale.json()["current"]["version"] == 3
    assert api.call("DELETE", base, {"version": 3}).status_code == 204
    restored = api.call("POST", f"{base}/restore", {"version": 3})
    assert restored.status_code == 201
    assert (restored.json()["id"], restored.json()["version"]) == (row.pk, 4)
    again = api.call("POST", f"{base}/restore", {"version": 3})
    assert again.status_code == 409 and again.json()["current"]["id"] == row.pk
    missing = api.call("POST", f"{base}/revert", {"version": 99})
    assert missing.status_code == 404
    assert api.call("POST", f"{base}/revert", {"version": 0}).status_code in (400, 422)


def test_only_reviewers_take_back_a_verdict_and_only_annotators_an_edit(
    personas: Personas, image: Image, car: Category
) -> None:
    row = mask_of(image, personas)
    base = f"/projects/{personas.project.pk}/annotations/{row.pk}"
    reviewer, annotator = api_for(personas.reviewer), api_for(personas.annotator)
    assert reviewer.call("PATCH", base, {"version": 1, "status": "approved"}).status_code == 200
    assert annotator.call("POST", f"{base}/revert", {"version": 2}).status_code == 403
    undone = reviewer.call("POST", f"{base}/revert", {"version": 2})
    assert undone.status_code == 200 and undone.json()["status"] == "draft"
    assert annotator.call("PATCH", base, {"version": 3, "category": car.pk}).status_code == 200
    assert reviewer.call("POST", f"{base}/revert", {"version": 4}).status_code == 403
    assert annotator.call("DELETE", base, {"version": 4}).status_code == 204
    assert reviewer.call("POST", f"{base}/restore", {"version": 4}).status_code == 403
    assert not Annotation.objects.filter(pk=row.pk).exists()


def test_an_outsider_and_a_foreign_project_get_not_found(
    personas: Personas, image: Image, car: Category
) -> None:
    row = mask_of(image, personas, car)
    do_update_annotation(image, row.pk, personas.annotator, expected_version=1, category_id=None)
    outsider = api_for(personas.outsider)
    own = personas.outsider.memberships.get().project  # the outsider's own project
    for project_id in (personas.project.pk, own.pk):
        path = f"/projects/{project_id}/annotations/{row.pk}"
        assert outsider.call("POST", f"{path}/revert", {"version": 2}).status_code == 404
    do_delete_annotation(image, row.pk, personas.annotator, expected_version=2)
    for project_id in (personas.project.pk, own.pk):
        path = f"/projects/{project_id}/annotations/{row.pk}"
        assert outsider.call("POST", f"{path}/restore", {"version": 2}).status_code == 404
    assert not Annotation.objects.filter(pk=row.pk).exists()
    assert AnnotationEvent.objects.filter(annotation_id=row.pk).count() == 3
