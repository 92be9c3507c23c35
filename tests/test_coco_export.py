"""COCO export from the web UI: options, output that pycocotools loads, access.

Exports run through the real queue: the page's POST queues `run_export` on the
broker, the test takes the message off the queue and runs the task as a worker
would, and the file is read back with `pycocotools.coco.COCO`.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

from inference.masks import rle_encode
from labeling.models import Category, Export, Image, JobStatus
from labeling.services.annotations import do_create_annotation
from labeling.services.uploads import do_add_image
from labeling.tasks import run_export
from tests.conftest import Personas, drain_queue, image_bytes

pytestmark = pytest.mark.django_db(transaction=True)

W, H = 64, 48


def disk_with_hole() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    r2 = (yy - 24) ** 2 + (xx - 30) ** 2
    return (r2 < 18**2) & (r2 >= 7**2)


def square(x: int, y: int, side: int) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y : y + side, x : x + side] = True
    return mask


@pytest.fixture
def default_queue(settings: Any) -> Any:
    drain_queue(settings.CELERY_QUEUE_DEFAULT)
    yield settings.CELERY_QUEUE_DEFAULT
    drain_queue(settings.CELERY_QUEUE_DEFAULT)


@pytest.fixture
def labeled(personas: Personas) -> dict[str, Any]:
    """Three images (two uploaded under one name), masks of every kind of status."""
    project, owner = personas.project, personas.owner
    car = Category.objects.create(project=project, name="car", order=1)
    tree = Category.objects.create(project=project, name="tree", order=2)
    first = do_add_image(project, owner, io.BytesIO(image_bytes(color=(1, 2, 3))), "dir/a.png")
    second = do_add_image(project, owner, io.BytesIO(image_bytes(color=(4, 5, 6))), "a.png")
    empty = do_add_image(project, owner, io.BytesIO(image_bytes(color=(7, 8, 9))), "empty.png")
    masks = {
        "ring": (first, disk_with_hole(), car, "approved"),
        "square": (second, square(5, 5, 10), tree, "approved"),
        "submitted": (first, square(40, 30, 8), tree, "submitted"),
        "draft": (second, square(40, 30, 8), car, "draft"),
        "no-category": (second, square(20, 20, 6), None, "approved"),
    }
    rows = {
        name: do_create_annotation(
            image, owner, rle=rle_encode(mask), source="manual",
            category_id=category.pk if category else None, status=status,
        )
        for name, (image, mask, category, status) in masks.items()
    }  # fmt: skip
    return {
        "images": (first, second, empty),
        "categories": (car, tree),
        "rows": rows,
        "masks": masks,
    }


def export_via_page(client: Client, personas: Personas, queue: str, **form: Any) -> Export:
    data = {"statuses": ["approved"], "segmentation": "rle"} | form
    response = client.post(f"/projects/{personas.project.pk}/exports/", data)
    assert response.status_code == 302, response.content[:500]
    queued = drain_queue(queue)
    assert [name for name, _ in queued] == ["labeling.tasks.run_export"]
    assert run_export(*queued[0][1]) == "done"
    return Export.objects.get(pk=queued[0][1][0])


def download(client: Client, personas: Personas, export: Export) -> bytes:
    response = client.get(f"/projects/{personas.project.pk}/exports/{export.pk}/download")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    return b"".join(response.streaming_content)  # type: ignore[attr-defined]


def load_coco(data: bytes, tmp_path: Path) -> COCO:
    path = tmp_path / "annotations.json"
    path.write_bytes(data)
    return COCO(str(path))


def test_rle_export_holds_exactly_the_approved_masks_and_round_trips(
    personas: Personas, labeled: dict[str, Any], default_queue: str, tmp_path: Path
) -> None:
    client = personas.client("owner")
    export = export_via_page(client, personas, default_queue)
    assert (export.image_count, export.annotation_count) == (2, 2)
    assert export.skipped_uncategorized == 1  # shown on the page
    coco = load_coco(download(client, personas, export), tmp_path)

    car, tree = labeled["categories"]
    assert {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())} == {
        car.pk: "car",
        tree.pk: "tree",
    }
    first, second, _ = labeled["images"]
    images = {i["id"]: i for i in coco.loadImgs(coco.getImgIds())}
    assert images == {
        first.pk: {"id": first.pk, "file_name": "a.png", "width": W, "height": H},
        second.pk: {"id": second.pk, "file_name": f"a-{second.pk}.png", "width": W, "height": H},
    }
    rows = labeled["rows"]
    got = {a["id"]: a for a in coco.loadAnns(coco.getAnnIds())}
    assert set(got) == {rows["ring"].pk, rows["square"].pk}
    for name in ("ring", "square"):
        item, (image, mask, category, _) = got[rows[name].pk], labeled["masks"][name]
        assert item["image_id"] == image.pk and item["category_id"] == category.pk
        assert item["iscrowd"] == 0
        assert np.array_equal(coco.annToMask(item).astype(bool), mask)  # identical pixels
        encoded = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert item["area"] == int(coco_mask.area(encoded))
        assert item["bbox"] == [float(v) for v in coco_mask.toBbox(encoded)]


def test_polygon_export_keeps_holes(
    personas: Personas, labeled: dict[str, Any], default_queue: str, tmp_path: Path
) -> None:
    client = personas.client("owner")
    export = export_via_page(client, personas, default_queue, segmentation="polygon")
    coco = load_coco(download(client, personas, export), tmp_path)
    ring_id = labeled["rows"]["ring"].pk
    for item in coco.loadAnns(coco.getAnnIds()):
        assert isinstance(item["segmentation"], list)
        drawn = coco.annToMask(item).astype(bool)
        expected = labeled["masks"]["ring" if item["id"] == ring_id else "square"][1]
        iou = (drawn & expected).sum() / (drawn | expected).sum()
        assert iou >= 0.99
        if item["id"] == ring_id:
            assert not drawn[24, 30] and drawn[24, 30 + 12]  # the hole stays a hole


def test_options_pick_statuses_and_empty_images(
    personas: Personas, labeled: dict[str, Any], default_queue: str, tmp_path: Path
) -> None:
    client = personas.client("owner")
    export = export_via_page(
        client, personas, default_queue, statuses=["approved", "submitted"], include_empty="on"
    )
    coco = load_coco(download(client, personas, export), tmp_path)
    rows = labeled["rows"]
    assert set(coco.getAnnIds()) == {rows["ring"].pk, rows["square"].pk, rows["submitted"].pk}
    assert set(coco.getImgIds()) == {image.pk for image in labeled["images"]}
    assert json.loads((tmp_path / "annotations.json").read_text())["info"]["statuses"] == [
        "submitted",
        "approved",
    ]


def test_a_zip_export_carries_the_images_under_plain_names(
    personas: Personas, labeled: dict[str, Any], default_queue: str
) -> None:
    client = personas.client("owner")
    export = export_via_page(client, personas, default_queue, with_images="on")
    archive = zipfile.ZipFile(io.BytesIO(download(client, personas, export)))
    second = labeled["images"][1]
    assert set(archive.namelist()) == {
        "annotations.json",
        "images/a.png",
        f"images/a-{second.pk}.png",
    }
    coco = json.loads(archive.read("annotations.json"))
    for item in coco["images"]:
        stored = Image.objects.get(pk=item["id"]).file
        assert archive.read(f"images/{item['file_name']}") == stored.read()


def test_the_form_refuses_bad_options_and_starts_nothing(
    personas: Personas, labeled: dict[str, Any], default_queue: str
) -> None:
    client = personas.client("owner")
    url = f"/projects/{personas.project.pk}/exports/"
    for data in ({"segmentation": "rle"}, {"statuses": ["shipped"], "segmentation": "rle"}):
        response = client.post(url, data)
        assert response.status_code == 400
    response = client.post(url, {"statuses": ["approved"], "segmentation": "svg"})
    assert response.status_code == 400 and b"RLE or polygons" in response.content
    assert not Export.objects.exists() and drain_queue(default_queue) == []


def test_the_page_lists_past_exports_and_their_progress(
    personas: Personas, labeled: dict[str, Any], default_queue: str
) -> None:
    client = personas.client("owner")
    export = export_via_page(client, personas, default_queue)
    page = client.get(f"/projects/{personas.project.pk}/exports/").content.decode()
    assert f'data-export="{export.pk}"' in page and "2 images, 2 masks" in page
    assert "1 without a category left out" in page
    status = client.get(f"/projects/{personas.project.pk}/exports/status.json").json()
    assert status["exports"][0] | {"created_at": None} == status["exports"][0] | {
        "created_at": None,
        "id": export.pk,
        "status": "done",
        "done": 4,
        "total": 4,
        "download": True,
    }


def test_a_failed_export_says_so_and_leaves_no_file(
    personas: Personas, labeled: dict[str, Any], default_queue: str, settings: Any
) -> None:
    client = personas.client("owner")
    labeled["images"][0].file.delete(save=False)  # the zip cannot read this image
    response = client.post(
        f"/projects/{personas.project.pk}/exports/",
        {"statuses": ["approved"], "segmentation": "rle", "with_images": "on"},
    )
    assert response.status_code == 302
    ((task, args),) = drain_queue(default_queue)
    assert task == "labeling.tasks.run_export"
    assert run_export(*args) == "failed"
    export = Export.objects.get(pk=args[0])
    assert export.status == JobStatus.FAILED and "Nothing was saved" in export.error
    assert export.file == ""
    assert not (Path(django_settings.MEDIA_ROOT) / "exports").exists()
    download_url = f"/projects/{personas.project.pk}/exports/{export.pk}/download"
    assert client.get(download_url).status_code == 404
    assert run_export(*args) == "not queued"  # a duplicate delivery does nothing


@pytest.mark.parametrize(
    ("who", "code"), [("annotator", 403), ("reviewer", 403), ("outsider", 404)]
)
def test_only_project_admins_export(
    personas: Personas, labeled: dict[str, Any], default_queue: str, who: str, code: int
) -> None:
    export = export_via_page(personas.client("owner"), personas, default_queue)
    client = personas.client(who)
    base = f"/projects/{personas.project.pk}/exports"
    for url in (f"{base}/", f"{base}/status.json", f"{base}/{export.pk}/download"):
        assert client.get(url).status_code == code, url
    assert (
        client.post(f"{base}/", {"statuses": ["approved"], "segmentation": "rle"}).status_code
        == code
    )
    assert Export.objects.count() == 1 and drain_queue(default_queue) == []


def test_another_projects_export_id_is_not_found(
    personas: Personas, labeled: dict[str, Any], default_queue: str
) -> None:
    export = export_via_page(personas.client("owner"), personas, default_queue)
    outsider = personas.client("outsider")
    own = personas.outsider.memberships.get().project_id
    assert outsider.get(f"/projects/{own}/exports/{export.pk}/download").status_code == 404


def test_an_admin_deletes_a_past_export_with_its_file(
    personas: Personas, labeled: dict[str, Any], default_queue: str
) -> None:
    client = personas.client("owner")
    base = f"/projects/{personas.project.pk}/exports"
    export = export_via_page(client, personas, default_queue)
    assert default_storage.exists(export.file)
    page = client.post(f"{base}/{export.pk}/delete", follow=True).content.decode()
    assert "Export deleted, with its file." in page and f'data-export="{export.pk}"' not in page
    assert not Export.objects.exists() and not default_storage.exists(export.file)
    assert client.get(f"{base}/{export.pk}/download").status_code == 404
    page = client.post(f"{base}/{export.pk}/delete", follow=True).content.decode()
    assert "No such export in this project." in page


def test_an_export_deleted_while_it_runs_leaves_no_file(
    personas: Personas, labeled: dict[str, Any], default_queue: str
) -> None:
    client = personas.client("owner")
    base = f"/projects/{personas.project.pk}/exports"
    client.post(f"{base}/", {"statuses": ["approved"], "segmentation": "rle"})
    ((_, args),) = drain_queue(default_queue)
    deleted: list[int] = []

    def delete_before_the_worker_finishes(execute: Any, sql: str, params: Any, *rest: Any) -> Any:
        # The admin presses Delete after the worker saved its file, just before it
        # marks the export done.
        finishing = sql.startswith('UPDATE "labeling_export" SET "status"') and "done" in params
        if finishing and not deleted:
            deleted.append(args[0])
            page = client.post(f"{base}/{args[0]}/delete", follow=True).content.decode()
            assert "Export deleted, with its file." in page
        return execute(sql, params, *rest)

    with connection.execute_wrapper(delete_before_the_worker_finishes):
        assert run_export(*args) == "deleted"
    assert deleted == [args[0]] and not Export.objects.exists()
    assert not [p for p in (Path(django_settings.MEDIA_ROOT) / "exports").rglob("*") if p.is_file()]


def test_a_deleted_queued_export_never_runs(
    personas: Personas, labeled: dict[str, Any], default_queue: str
) -> None:
    client = personas.client("owner")
    base = f"/projects/{personas.project.pk}/exports"
    client.post(f"{base}/", {"statuses": ["approved"], "segmentation": "rle"})
    ((_, queued_args),) = drain_queue(default_queue)
    client.post(f"{base}/{queued_args[0]}/delete")
    assert not Export.objects.filter(pk=queued_args[0]).exists()
    assert run_export(*queued_args) == "not queued"  # its message, delivered late
    assert not (Path(django_settings.MEDIA_ROOT) / "exports").exists()


def test_another_projects_export_cannot_be_deleted_and_a_bulk_delete_takes_files(
    personas: Personas, labeled: dict[str, Any], default_queue: str
) -> None:
    export = export_via_page(personas.client("owner"), personas, default_queue)
    outsider = personas.client("outsider")
    own = personas.outsider.memberships.get().project_id
    page = outsider.post(f"/projects/{own}/exports/{export.pk}/delete", follow=True)
    assert "No such export in this project." in page.content.decode()
    assert default_storage.exists(export.file)
    # A bulk delete (the Django admin's action, a project's cascade) removes files too.
    Export.objects.filter(project=personas.project).delete()
    assert not default_storage.exists(export.file)


def test_hundreds_of_masks_in_one_chunk_keep_their_areas(
    personas: Personas, labeled: dict[str, Any], default_queue: str, tmp_path: Path
) -> None:
    # pycocotools' area() cannot count past 255 masks per call under numpy 2.
    image, car = labeled["images"][2], labeled["categories"][0]
    for i in range(300):
        do_create_annotation(
            image, personas.owner, rle=rle_encode(square(i % 40, i % 25, 1 + i % 17)),
            source="manual", category_id=car.pk, status="approved",
        )  # fmt: skip
    client = personas.client("owner")
    coco = load_coco(
        download(client, personas, export_via_page(client, personas, default_queue)), tmp_path
    )
    squares = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=[image.pk]))]
    assert len(squares) == 300
    assert sorted(a["area"] for a in squares) == sorted((1 + i % 17) ** 2 for i in range(300))
