"""COCO import of a synthetic file: seconds, ours against the one-mask-at-a-time path.

    .venv/bin/python bench/import_coco.py [--images 2000 --masks 20000]

Builds two identical throwaway projects (SQLite in a temporary directory, or
`DATABASE_URL` if set) of `--images` 1024x768 image rows, and one COCO file with
`--masks` RLE masks (blob shapes of real size) spread over them. Then it imports the
file into each project:

* ours: `labeling.jobs.coco_import.perform_import`, as the worker runs it: parse,
  check every item, then write the masks in bulk with one push per image;
* naive: the same parse and check, then `do_create_annotation` for each mask, as the
  import did before: a row, a history entry, a status update and a push each.

The check phase is the same code in both and is timed on its own. The check of one
RLE is also timed against what it did before (draw the pixels, encode them again) on
a sample of 2,000 masks. Ends with one JSON line: {"bench": "import", "images": ...,
"masks": ..., "seconds": ..., "naive_seconds": ..., "check_seconds": ..., "speedup":
..., "rle_check_speedup": ...}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.export import HEIGHT, WIDTH, add_image_rows, blob_rles, setup_django


def build(name: str, images: int) -> Any:
    from django.contrib.auth.models import User

    from labeling.models import Category, Membership, Project, Role

    user, _ = User.objects.get_or_create(username="bench")
    project = Project.objects.create(name=name, created_by=user)
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    Category.objects.bulk_create(Category(project=project, name=f"class {i}") for i in range(10))
    add_image_rows(project, images)
    return project


def coco_file(images: int, masks: int) -> bytes:
    shapes = blob_rles(200)
    annotations = [
        {"id": k + 1, "image_id": k % images + 1, "category_id": k % 10 + 1,
         "segmentation": shapes[k % len(shapes)]}
        for k in range(masks)
    ]  # fmt: skip
    coco = {
        "images": [
            {"id": i + 1, "file_name": f"{i:05d}.jpg", "width": WIDTH, "height": HEIGHT}
            for i in range(images)
        ],
        "categories": [{"id": i + 1, "name": f"class {i}"} for i in range(10)],
        "annotations": annotations,
    }
    return json.dumps(coco).encode()


def import_row(project: Any, data: bytes) -> Any:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from labeling.models import CocoImport

    stored = default_storage.save(f"imports/{project.pk}/bench.json", ContentFile(data))
    return CocoImport.objects.create(
        project=project, created_by=project.created_by, file=stored, original_name="bench.json"
    )


def ours(project: Any, data: bytes) -> float:
    from labeling.jobs.coco_import import perform_import
    from labeling.models import CocoImport

    row = import_row(project, data)
    started = time.perf_counter()
    if perform_import(row.pk) != "done":
        raise SystemExit(f"import failed: {CocoImport.objects.get(pk=row.pk).errors}")
    return time.perf_counter() - started


def naive(project: Any, data: bytes) -> tuple[float, float]:
    """(total seconds, seconds of the check alone) for the per-mask writer."""
    from django.db import transaction

    from labeling.coco_import import plan_import
    from labeling.models import Category, Image
    from labeling.services.annotations import do_create_annotation

    started = time.perf_counter()
    plan = plan_import(project, json.loads(data), False)
    assert plan.ok, plan.errors[:3]
    checked = time.perf_counter() - started
    ids = {c.name: c.pk for c in Category.objects.filter(project=project)}
    images = {i.pk: i for i in Image.objects.filter(project=project)}
    with transaction.atomic():
        for mask in plan.masks:
            do_create_annotation(
                images[mask.image_id], project.created_by, rle=mask.rle, source="import",
                status="submitted", category_id=ids[mask.category],
            )  # fmt: skip
    return time.perf_counter() - started, checked


def rle_check_speedup(samples: int = 2000) -> float:
    """A mask's check by its runs alone, against drawing and re-encoding it."""
    from inference.masks import rle_decode, rle_encode, rle_normalize

    shapes = blob_rles(200)
    picked = [shapes[k % len(shapes)] for k in range(samples)]
    started = time.perf_counter()
    for rle in picked:
        rle_encode(rle_decode(rle))
    drawn = time.perf_counter() - started
    started = time.perf_counter()
    for rle in picked:
        rle_normalize(rle)
    return drawn / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2_000)
    parser.add_argument("--masks", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="anymask-bench-import-") as var_dir:
        setup_django(var_dir)
        from django.core.management import call_command

        from labeling.models import Annotation

        call_command("migrate", verbosity=0)
        data = coco_file(args.images, args.masks)
        print(f"COCO file: {args.images} images, {args.masks} masks, {len(data) / 2**20:.1f} MiB")
        naive_seconds, check_seconds = naive(build("naive", args.images), data)
        our_project = build("ours", args.images)
        our_seconds = ours(our_project, data)
        assert Annotation.objects.filter(image__project=our_project).count() == args.masks
        print(
            f"ours {our_seconds:.2f} s, naive {naive_seconds:.2f} s "
            f"(the shared check: {check_seconds:.2f} s)"
        )
        check_ratio = rle_check_speedup()
        print(f"one RLE's check: {check_ratio:.1f}x faster than drawing and re-encoding it")
        line = {
            "bench": "import", "images": args.images, "masks": args.masks,
            "seconds": round(our_seconds, 2), "naive_seconds": round(naive_seconds, 2),
            "check_seconds": round(check_seconds, 2),
            "speedup": round(naive_seconds / our_seconds, 2),
            "rle_check_speedup": round(check_ratio, 1),
        }  # fmt: skip
        print(json.dumps(line))


if __name__ == "__main__":
    main()
