"""COCO export, streamed to a file: flat memory whatever the project's size.

Images and annotations are read in chunks of plain tuples (`values_list` +
`iterator`), each COCO item is written as soon as it is made, and nothing is
collected except the set of file names already used. Per chunk, pycocotools
computes every mask's area and bbox in one call on the stored RLE (no pixels).

What the output promises (tests/test_coco_export.py checks each):
* category ids are the categories' database ids, so they are stable across exports;
* `iscrowd` is 0 and `segmentation` is the stored RLE, or polygons traced from it
  with holes kept (`inference.masks.mask_to_polygons`);
* `file_name` is a plain name, unique within the file (a repeated upload name gets
  "-<image id>" before its extension); `width` and `height` are as displayed;
* masks with no category are left out (COCO needs one) and counted.
"""

from __future__ import annotations

import json
import posixpath
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from pycocotools import mask as coco_mask

from inference.masks import mask_to_polygons, rle_decode
from labeling.models import Annotation, Category, Image, Project
from labeling.storage import open_stream

CHUNK = 1000
COPY_BUFFER = 1 << 20

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ExportOptions:
    statuses: tuple[str, ...]
    segmentation: str  # "rle" | "polygon"
    include_empty: bool = False
    with_images: bool = False


@dataclass(frozen=True)
class ExportCounts:
    images: int
    annotations: int
    skipped_uncategorized: int


def _dumps(item: Any) -> str:
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False)


def exported_annotations(project: Project, options: ExportOptions) -> QuerySet[Annotation]:
    return Annotation.objects.filter(
        image__project=project, status__in=options.statuses, category__isnull=False
    )


def exported_images(project: Project, options: ExportOptions) -> QuerySet[Image]:
    images = Image.objects.filter(project=project)
    if not options.include_empty:
        masks = exported_annotations(project, options).filter(image=OuterRef("pk"))
        images = images.filter(Exists(masks))
    return images.order_by("id")


def unique_name(name: str, image_id: int, used: set[str]) -> str:
    """`name` if nobody in this export has it yet, else "<stem>-<id><ext>"."""
    plain = posixpath.basename(name.replace("\\", "/")) or f"image-{image_id}"
    if plain in used:
        stem, dot, ext = plain.rpartition(".")
        plain = f"{stem}-{image_id}.{ext}" if dot and stem else f"{plain}-{image_id}"
    used.add(plain)
    return plain


def _chunks(rows: Iterator[Any]) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _areas(coded: list[dict[str, Any]]) -> list[int]:
    # pycocotools' area() makes a throwaway np.array((n,), dtype=uint8), which
    # numpy 2 refuses for n > 255: ask in batches it can count.
    areas: list[int] = []
    for start in range(0, len(coded), 255):
        areas.extend(int(a) for a in coco_mask.area(coded[start : start + 255]))
    return areas


def _polygons(rle: dict[str, Any], bbox: np.ndarray) -> list[list[float]]:
    """Polygons of one stored mask, traced inside its bbox only (a 1-pixel margin
    keeps the outline closed), then shifted back to image coordinates."""
    mask = rle_decode(rle)
    x, y, w, h = (int(v) for v in bbox)
    x0, y0 = max(0, x - 1), max(0, y - 1)
    crop = np.ascontiguousarray(mask[y0 : y + h + 1, x0 : x + w + 1])
    polygons = mask_to_polygons(crop)
    for polygon in polygons:
        polygon[0::2] = [v + x0 for v in polygon[0::2]]
        polygon[1::2] = [v + y0 for v in polygon[1::2]]
    return polygons


def write_coco(
    project: Project, options: ExportOptions, out: IO[str], progress: Progress
) -> tuple[ExportCounts, list[tuple[str, str]]]:
    """Write the COCO JSON to `out`. Returns the counts and, in order, each exported
    image's (file_name, storage name) for a zip. `progress(done, total)` is called
    per chunk; total is images + annotations."""
    images = exported_images(project, options)
    # Every exported mask's image is exported (without include_empty, images are
    # chosen for having one), so the masks need no join against the images.
    annotations = exported_annotations(project, options)
    total = images.count() + annotations.count()
    skipped = Annotation.objects.filter(
        image__project=project, status__in=options.statuses, category__isnull=True
    ).count()
    done = 0
    progress(done, total)
    info = {
        "description": f"{project.name} (Anymask export)",
        "date_created": timezone.now().isoformat(timespec="seconds"),
        "statuses": list(options.statuses),
    }
    categories = [
        {"id": pk, "name": name, "supercategory": ""}
        for pk, name in Category.objects.filter(project=project).values_list("id", "name")
    ]
    out.write(f'{{"info":{_dumps(info)},"licenses":[],"categories":{_dumps(categories)},')
    out.write('"images":[')
    files: list[tuple[str, str]] = []
    used: set[str] = set()
    first = True
    image_rows = images.values_list("id", "original_name", "width", "height", "file")
    for chunk in _chunks(image_rows.iterator(chunk_size=CHUNK)):
        for image_id, name, width, height, stored in chunk:
            file_name = unique_name(name, image_id, used)
            files.append((file_name, stored))
            item = {"id": image_id, "file_name": file_name, "width": width, "height": height}
            out.write(("" if first else ",") + _dumps(item))
            first = False
        done += len(chunk)
        progress(done, total)
    out.write('],"annotations":[')
    first = True
    count = 0
    mask_rows = annotations.order_by("image_id", "id").values_list(
        "id", "image_id", "category_id", "rle"
    )
    for chunk in _chunks(mask_rows.iterator(chunk_size=CHUNK)):
        coded = [{"size": r[3]["size"], "counts": r[3]["counts"].encode()} for r in chunk]
        areas = _areas(coded)
        boxes = coco_mask.toBbox(coded)
        for (pk, image_id, category_id, rle), area, box in zip(chunk, areas, boxes, strict=True):
            segmentation = rle if options.segmentation == "rle" else _polygons(rle, box)
            item = {
                "id": pk,
                "image_id": image_id,
                "category_id": category_id,
                "segmentation": segmentation,
                "area": int(area),
                "bbox": [float(v) for v in box],
                "iscrowd": 0,
            }
            out.write(("" if first else ",") + _dumps(item))
            first = False
        count += len(chunk)
        done += len(chunk)
        progress(done, total)
    out.write("]}")
    return ExportCounts(len(files), count, skipped), files


def write_zip(
    json_path: str, files: list[tuple[str, str]], target: IO[bytes], progress: Progress
) -> None:
    """A zip of annotations.json and images/<file_name> (names already plain and unique)."""
    with zipfile.ZipFile(target, "w", allowZip64=True) as archive:
        archive.write(json_path, "annotations.json", compress_type=zipfile.ZIP_DEFLATED)
        for index, (file_name, stored) in enumerate(files, start=1):
            # Pictures are compressed already: stored as they are.
            with (
                open_stream(stored) as source,
                archive.open(f"images/{file_name}", "w", force_zip64=True) as sink,
            ):
                while block := source.read(COPY_BUFFER):
                    sink.write(block)
            if index % 50 == 0 or index == len(files):
                progress(index, len(files))
