"""COCO import: every kind of mask, all-or-nothing per file, hostile input.

Imports go through the real path: the page's upload queues `run_import` on the
broker, the test runs the queued task as a worker would, and bbox-only masks are
decoded by a tiny random SAM through the same engine as the labeling page.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.storage import default_storage
from pycocotools import mask as coco_mask

from inference.masks import polygons_to_mask, rle_area, rle_bbox, rle_decode, rle_encode
from inference.testing import save_tiny_sam
from labeling import coco_import
from labeling.models import Annotation, AnnotationEvent, Category, CocoImport, Image
from labeling.services.uploads import do_add_image
from labeling.tasks import run_import
from tests.conftest import Personas, drain_queue, image_bytes

pytestmark = pytest.mark.django_db(transaction=True)

W, H = 64, 48


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny_sam(tmp_path_factory.mktemp("models") / "tiny-sam"))


@pytest.fixture
def project_images(personas: Personas, tiny_sam: str, settings: Any) -> list[Image]:
    drain_queue(settings.CELERY_QUEUE_DEFAULT)
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)
    personas.project.model_spec = tiny_sam
    personas.project.save()
    Category.objects.create(project=personas.project, name="Car")
    images = [
        do_add_image(personas.project, personas.owner, io.BytesIO(image_bytes(color=c)), name)
        for c, name in (((10, 20, 30), "a.png"), ((40, 50, 60), "b.png"))
    ]
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)  # the import computes what it needs
    return images


def square(x: int, y: int, side: int) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y : y + side, x : x + side] = True
    return mask


def upload(personas: Personas, data: Any, settings: Any, **form: Any) -> CocoImport:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    file = io.BytesIO(body)
    file.name = "coco.json"
    response = personas.client("owner").post(
        f"/projects/{personas.project.pk}/imports/", {"file": file, **form}
    )
    assert response.status_code == 302
    queued = drain_queue(settings.CELERY_QUEUE_DEFAULT)
    assert [name for name, _ in queued] == ["labeling.tasks.run_import"]
    stored = CocoImport.objects.get(pk=queued[0][1][0]).file
    assert default_storage.exists(stored)
    run_import(*queued[0][1])
    row = CocoImport.objects.get(pk=queued[0][1][0])
    # Whatever the outcome, the spent upload is removed from storage.
    assert row.file == "" and not default_storage.exists(stored)
    return row


def coco(
    annotations: list[dict[str, Any]], categories: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "images": [
            {"id": 1, "file_name": "exports/../a.png", "width": W, "height": H},
            {"id": 2, "file_name": "C:\\data\\b.png"},
        ],
        "categories": categories or [{"id": 7, "name": "car"}],
        "annotations": annotations,
    }


def test_rle_polygons_and_boxes_become_submitted_masks(
    personas: Personas, project_images: list[Image], settings: Any
) -> None:
    a, b = project_images
    compressed = rle_encode(square(2, 2, 10))
    fortran = np.asfortranarray(square(20, 10, 8).astype(np.uint8))
    runs = coco_mask.decode(coco_mask.encode(fortran))  # the same pixels, as counts below
    flat = runs.flatten(order="F")
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    uncompressed = {"size": [H, W], "counts": np.diff(np.concatenate([[0], changes])).tolist()}
    polygon = [[30.0, 5.0, 50.0, 5.0, 50.0, 25.0, 30.0, 25.0]]
    data = coco(
        [
            {"id": 1, "image_id": 1, "category_id": 7, "segmentation": compressed},
            {"id": 2, "image_id": 1, "category_id": 7, "segmentation": uncompressed},
            {"id": 3, "image_id": 2, "category_id": 8, "segmentation": polygon},
            {"id": 4, "image_id": 2, "category_id": 7, "bbox": [5, 5, 30, 30]},
        ],
        [{"id": 7, "name": "car"}, {"id": 8, "name": "tree"}],
    )
    row = upload(personas, data, settings, create_categories="on")
    assert (row.status, row.imported, row.categories_created, row.errors) == ("done", 4, 1, [])
    masks = list(Annotation.objects.filter(source="import").order_by("id"))
    assert [m.status for m in masks] == ["submitted"] * 4
    assert [m.image_id for m in masks] == [a.pk, a.pk, b.pk, b.pk]
    assert [m.category.name for m in masks if m.category] == ["Car", "Car", "tree", "Car"]
    assert np.array_equal(rle_decode(masks[0].rle), square(2, 2, 10))
    assert np.array_equal(rle_decode(masks[1].rle), square(20, 10, 8))
    assert np.array_equal(rle_decode(masks[2].rle), polygons_to_mask(polygon, H, W))
    boxed = rle_decode(masks[3].rle)  # SAM's mask for the box: something, on the image
    assert boxed.shape == (H, W) and boxed.any()
    # Each mask has its "created" entry in History, by the person who imported it.
    history = AnnotationEvent.objects.filter(annotation_id__in=[m.pk for m in masks])
    assert sorted(history.values_list("annotation_id", "action", "actor__username")) == [
        (m.pk, "created", "owner") for m in masks
    ]
    assert all(m.area == rle_area(m.rle) and m.bbox == rle_bbox(m.rle) for m in masks)
    assert set(Image.objects.values_list("labeling_status", flat=True)) == {"in_progress"}


def test_one_bad_item_imports_nothing_and_every_problem_is_listed(
    personas: Personas, project_images: list[Image], settings: Any
) -> None:
    good = {"id": 1, "image_id": 1, "category_id": 7, "segmentation": rle_encode(square(1, 1, 5))}
    data = coco(
        [
            good,
            {
                "id": 2,
                "image_id": 1,
                "category_id": 7,
                "segmentation": rle_encode(np.ones((10, 10), bool)),
            },
            {
                "id": 3,
                "image_id": 1,
                "category_id": 7,
                "segmentation": {"size": [H, W], "counts": "0"},
            },
            {"id": 4, "image_id": 1, "category_id": 9, "segmentation": rle_encode(square(1, 1, 5))},
            {"id": 5, "image_id": 3, "category_id": 7, "bbox": [0, 0, 5, 5]},
            {"id": 6, "image_id": 1, "category_id": 7, "bbox": [0, 0, 5000, 5]},
            {"id": 7, "image_id": 1, "category_id": 7, "segmentation": [[1, 2, 3]]},
            "not an object",  # type: ignore[list-item]
        ],
        [{"id": 7, "name": "car"}, {"id": 9, "name": "boat"}],
    )
    data["images"].append({"id": 3, "file_name": "missing.png"})
    data["images"].append({"id": 4, "file_name": "a.png", "width": 10, "height": 10})
    row = upload(personas, data, settings)
    assert row.status == "failed" and row.imported == 0
    problems = "\n".join(row.errors)
    for expected in [
        "images[2] ('missing.png'): no image of that name",
        "images[3] ('a.png'): the file says 10×10, the image is 64×48",
        "categories[1]: 'boat' is not a category of this project",
        "annotations[1] (id 2): the mask is 10×10, the image 64×48",
        "annotations[2] (id 3): segmentation is not valid RLE",
        "annotations[3] (id 4): image_id and category_id",
        "annotations[4] (id 5): image_id and category_id",
        "annotations[5] (id 6): bbox [0, 0, 5000, 5] does not fit",
        "annotations[6] (id 7): segmentation polygons",
        "annotations[7]: must be an object",
    ]:
        assert expected in problems, expected
    assert not Annotation.objects.exists()
    assert not Category.objects.filter(name="boat").exists()
    page = (
        personas.client("owner").get(f"/projects/{personas.project.pk}/exports/").content.decode()
    )
    assert "no image of that name" in page  # the problems are on the page


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"\xff\xfe not json", "not JSON"),
        (b"[" * 200_000, "not JSON"),
        (b"[1, 2, 3]", "one JSON object"),
        (
            json.dumps({"images": {}, "annotations": [], "categories": []}).encode(),
            '"images" must be a list',
        ),
        (
            json.dumps(
                coco(
                    [
                        {
                            "id": 1,
                            "image_id": 1,
                            "category_id": 7,
                            "segmentation": {"size": [10**6, 10**6], "counts": "0"},
                        }
                    ]
                )
            ).encode(),
            "not valid RLE",
        ),
        (
            json.dumps(
                coco(
                    [
                        {
                            "id": 1,
                            "image_id": 1,
                            "category_id": 7,
                            "segmentation": {"size": [H, W], "counts": [10**12]},
                        }
                    ]
                )
            ).encode(),
            "not valid RLE",
        ),
        (
            json.dumps(
                coco(
                    [
                        {
                            "id": 1,
                            "image_id": 1,
                            "category_id": 7,
                            "segmentation": [[0, 0, 1e300, 0, 0, 1e300]],
                        }
                    ]
                )
            ).encode(),
            "polygons",
        ),
    ],
    ids=[
        "bytes",
        "nesting",
        "array",
        "images-not-list",
        "huge-rle",
        "overlong-counts",
        "far-polygon",
    ],
)
def test_hostile_files_are_refused_whole(
    personas: Personas, project_images: list[Image], settings: Any, body: bytes, problem: str
) -> None:
    row = upload(personas, body, settings)
    assert row.status == "failed" and problem in "\n".join(row.errors)
    assert not Annotation.objects.exists()


def test_counts_and_size_are_bounded_before_anything_is_read(
    personas: Personas, project_images: list[Image], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(coco_import, "MAX_ANNOTATIONS", 3)
    row = upload(personas, coco([{"id": i} for i in range(4)]), settings)
    assert row.errors == ['"annotations" has 4 entries; at most 3 per file.']
    settings.ANYMASK_IMPORT_MAX_BYTES = 1024
    file = io.BytesIO(b" " * 2048)
    file.name = "big.json"
    response = personas.client("owner").post(
        f"/projects/{personas.project.pk}/imports/", {"file": file}
    )
    assert response.status_code == 302 and CocoImport.objects.count() == 1
    assert drain_queue(settings.CELERY_QUEUE_DEFAULT) == []


@pytest.mark.parametrize(
    ("who", "code"), [("annotator", 403), ("reviewer", 403), ("outsider", 404)]
)
def test_only_admins_import(
    personas: Personas,
    project_images: list[Image],
    settings: Any,
    who: str,
    code: int,
    tmp_path: Path,
) -> None:
    file = io.BytesIO(json.dumps(coco([])).encode())
    file.name = "coco.json"
    response = personas.client(who).post(
        f"/projects/{personas.project.pk}/imports/", {"file": file}
    )
    assert response.status_code == code
    assert not CocoImport.objects.exists() and drain_queue(settings.CELERY_QUEUE_DEFAULT) == []
