"""COCO export of a synthetic project: seconds and peak memory, ours against naive.

    .venv/bin/python bench/export.py [--images 10000 --masks 100000]

Builds a throwaway SQLite project (in a temporary directory, or on `DATABASE_URL`
if set) of `--images` 1024x768 images and `--masks` masks (blob-shaped masks of
real RLE sizes; image rows only, no pixels: the export reads rows, not files), then
runs each export in a fresh process so its peak RSS is its own:

* ours: `labeling.jobs.export.perform_export`, as the worker runs it, for RLE
  and for polygons;
* naive (RLE only): model instances for every row, the whole COCO dict in memory,
  one `json.dump` at the end, pycocotools called once per mask.

Target (RLE, 2-core machine): <= 20 s and <= 1 GiB peak. Ends with one JSON line per
format: {"bench": "export", "format": "rle", "images": ..., "masks": ..., "seconds":
..., "peak_mib": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 1024, 768


def setup_django(var_dir: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labeling.settings")
    os.environ["ANYMASK_VAR_DIR"] = var_dir
    os.environ.setdefault("SECRET_KEY", "bench-export-" + "x" * 40)
    import django

    django.setup()


def blob_rles(count: int) -> list[dict[str, Any]]:
    """`count` distinct blob masks (ellipses with a bite taken out) as COCO RLE."""
    import numpy as np

    from inference.masks import rle_encode

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    rles = []
    for _ in range(count):
        cx, cy = rng.uniform(100, WIDTH - 100), rng.uniform(100, HEIGHT - 100)
        rx, ry = rng.uniform(20, 90), rng.uniform(20, 90)
        mask = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1
        mask &= ((xx - cx - rx / 2) / (rx / 3)) ** 2 + ((yy - cy) / (ry / 3)) ** 2 >= 1
        rles.append(rle_encode(mask))
    return rles


def add_image_rows(project: Any, images: int) -> None:
    """`images` rows of 1024x768 JPEGs named 00000.jpg, 00001.jpg, … (no pixels)."""
    from labeling.models import Image

    Image.objects.bulk_create(
        (
            Image(
                project=project, file=f"bench/{i}.jpg", original_name=f"{i:05d}.jpg",
                format="JPEG", width=WIDTH, height=HEIGHT, sha256=f"{i:064x}", byte_size=1,
            )
            for i in range(images)
        ),
        batch_size=2000,
    )  # fmt: skip


def build(images: int, masks: int) -> int:
    """Create the project; returns its id."""
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from labeling.models import Annotation, Category, Image, Project

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench")
    project = Project.objects.create(name="export bench", created_by=user)
    categories = [Category.objects.create(project=project, name=f"class {i}") for i in range(10)]
    add_image_rows(project, images)
    image_ids = list(Image.objects.filter(project=project).values_list("id", flat=True))
    shapes = blob_rles(200)
    from pycocotools import mask as coco_mask

    boxes = [
        [float(v) for v in coco_mask.toBbox({**r, "counts": r["counts"].encode()})] for r in shapes
    ]
    areas = [int(coco_mask.area({**r, "counts": r["counts"].encode()})) for r in shapes]
    batch: list[Annotation] = []
    for i in range(masks):
        k = i % len(shapes)
        batch.append(
            Annotation(
                image_id=image_ids[i % len(image_ids)], category=categories[i % 10],
                rle=shapes[k], bbox=boxes[k], area=areas[k], status="approved", source="sam",
            )
        )  # fmt: skip
        if len(batch) == 5000:
            Annotation.objects.bulk_create(batch)
            batch = []
    Annotation.objects.bulk_create(batch)
    return project.pk


def naive_export(project_id: int, out_path: str) -> None:
    """What a first version would do: everything in memory, one mask at a time."""
    from pycocotools import mask as coco_mask

    from labeling.models import Annotation, Category, Image

    coco: dict[str, Any] = {"images": [], "annotations": [], "categories": []}
    for category in Category.objects.filter(project_id=project_id):
        coco["categories"].append({"id": category.pk, "name": category.name})
    for image in Image.objects.filter(project_id=project_id):
        coco["images"].append(
            {"id": image.pk, "file_name": image.original_name, "width": image.width,
             "height": image.height}
        )  # fmt: skip
    for row in Annotation.objects.filter(image__project_id=project_id, status="approved"):
        rle = {"size": row.rle["size"], "counts": row.rle["counts"].encode()}
        coco["annotations"].append(
            {"id": row.pk, "image_id": row.image_id, "category_id": row.category_id,
             "segmentation": row.rle, "area": int(coco_mask.area(rle)),
             "bbox": [float(v) for v in coco_mask.toBbox(rle)], "iscrowd": 0}
        )  # fmt: skip
    with open(out_path, "w") as out:
        json.dump(coco, out)


def run_one(args: argparse.Namespace) -> None:
    """Child process: one export, then its seconds and peak RSS as JSON."""
    setup_django(args.var_dir)
    from labeling.models import Export, Project

    project = Project.objects.get(pk=args.project)
    started = time.perf_counter()
    if args.how == "naive":
        naive_export(project.pk, os.path.join(args.var_dir, "naive.json"))
    else:
        from labeling.jobs.export import perform_export

        export = Export.objects.create(
            project=project, statuses=["approved"], segmentation=args.format
        )
        result = perform_export(export.pk)
        if result != "done":
            raise SystemExit(f"export {result}: {Export.objects.get(pk=export.pk).error}")
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mib": peak_kib / 1024}))


def child(args: argparse.Namespace, how: str, fmt: str, project_id: int) -> dict[str, float]:
    command = [
        sys.executable, __file__, "one", "--var-dir", args.var_dir, "--project",
        str(project_id), "--how", how, "--format", fmt,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)  # noqa: S603
    if done.returncode:
        raise SystemExit(f"{how} {fmt} export failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=["run", "one"], default="run")
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--masks", type=int, default=100_000)
    parser.add_argument("--var-dir", default="")
    parser.add_argument("--project", type=int, default=0)
    parser.add_argument("--how", choices=["ours", "naive"], default="ours")
    parser.add_argument("--format", choices=["rle", "polygon"], default="rle")
    parser.add_argument("--skip-polygon", action="store_true", help="RLE only (faster)")
    args = parser.parse_args()
    if args.command == "one":
        run_one(args)
        return
    with tempfile.TemporaryDirectory(prefix="anymask-bench-export-") as var_dir:
        args.var_dir = var_dir
        setup_django(var_dir)
        started = time.perf_counter()
        project_id = build(args.images, args.masks)
        took = time.perf_counter() - started
        print(f"built {args.images} images, {args.masks} masks in {took:.0f} s")
        naive = child(args, "naive", "rle", project_id)
        results = []
        for fmt in ["rle"] if args.skip_polygon else ["rle", "polygon"]:
            ours = child(args, "ours", fmt, project_id)
            line = {
                "bench": "export", "format": fmt, "images": args.images, "masks": args.masks,
                "seconds": round(ours["seconds"], 2), "peak_mib": round(ours["peak_mib"]),
            }  # fmt: skip
            if fmt == "rle":
                line |= {
                    "naive_seconds": round(naive["seconds"], 2),
                    "naive_peak_mib": round(naive["peak_mib"]),
                    "speedup": round(naive["seconds"] / ours["seconds"], 2),
                    "memory_ratio": round(naive["peak_mib"] / ours["peak_mib"], 2),
                }
            print(
                f"{fmt}: {line['seconds']} s, peak {line['peak_mib']} MiB"
                + (
                    f" (naive {line['naive_seconds']} s, {line['naive_peak_mib']} MiB)"
                    if fmt == "rle" else ""
                )
            )  # fmt: skip
            results.append(line)
        for line in results:
            print(json.dumps(line))


if __name__ == "__main__":
    main()
