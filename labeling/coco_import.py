"""COCO import: check a whole file item by item, then write all of it or nothing.

`plan_import` reads the parsed JSON and returns either a list of problems, each
naming the item ("annotations[3] (id 17): ..."), or a plan: every mask as checked
COCO RLE at its image's size, or as a box for SAM to turn into a mask. Only a plan
without problems is carried out (`labeling.services.imports`), in one transaction.

What a hostile file meets: counts are bounded before anything is looped over,
every RLE is parsed by our checked decoder (never handed raw to pycocotools), sizes
must equal the project image's, polygons are bounded in extent and outline length,
and `file_name` is only ever compared, by its last path part, with the names of
images already in the project: it never reaches the filesystem.
"""

from __future__ import annotations

import math
import posixpath
from dataclasses import dataclass, field
from typing import Any

from inference.masks import MaskFormatError, polygons_to_mask, rle_encode, rle_normalize
from labeling.models import Category, Image, Project

MAX_IMAGES = 100_000
MAX_ANNOTATIONS = 200_000
MAX_CATEGORIES = 10_000
MAX_ERRORS = 100  # listed; the rest are counted


@dataclass(frozen=True)
class PlannedMask:
    image_id: int  # ours
    category: str  # its name, as in the project (or about to be created)
    rle: dict[str, Any] | None  # compressed, at the image's size; None: `box` instead
    box: tuple[float, float, float, float] | None  # x0, y0, x1, y1 for SAM


@dataclass
class ImportPlan:
    masks: list[PlannedMask] = field(default_factory=list)
    new_categories: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    more_errors: int = 0

    def problem(self, text: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(text)
        else:
            self.more_errors += 1

    @property
    def ok(self) -> bool:
        return not self.errors


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _list(data: dict[str, Any], key: str, limit: int, plan: ImportPlan) -> list[Any]:
    items = data.get(key)
    if not isinstance(items, list):
        plan.problem(f'"{key}" must be a list.')
        return []
    if len(items) > limit:
        plan.problem(f'"{key}" has {len(items)} entries; at most {limit} per file.')
        return []
    return items


def _match_images(project: Project, items: list[Any], plan: ImportPlan) -> dict[int, Image]:
    """COCO image id -> our image, by file name (its last path part)."""
    by_name: dict[str, list[Image]] = {}
    for image in Image.objects.filter(project=project).only(
        "id", "original_name", "width", "height"
    ):
        by_name.setdefault(image.original_name, []).append(image)
    matched: dict[int, Image] = {}
    for index, item in enumerate(items):
        where = f"images[{index}]"
        if not isinstance(item, dict):
            plan.problem(f"{where}: must be an object.")
            continue
        coco_id, name = _int(item.get("id")), item.get("file_name")
        if coco_id is None or not isinstance(name, str) or not name or len(name) > 1000:
            plan.problem(f"{where}: needs an integer id and a file_name.")
            continue
        plain = posixpath.basename(name.replace("\\", "/"))
        found = by_name.get(plain, [])
        if len(found) != 1:
            why = "no image of that name" if not found else "several images of that name"
            plan.problem(f"{where} ({plain[:80]!r}): {why} in the project.")
            continue
        image = found[0]
        width, height = item.get("width"), item.get("height")
        if (width, height) != (None, None) and (width, height) != (image.width, image.height):
            plan.problem(
                f"{where} ({plain[:80]!r}): the file says {width}×{height}, "
                f"the image is {image.width}×{image.height}."
            )
            continue
        if coco_id in matched:
            plan.problem(f"{where}: image id {coco_id} appears twice.")
            continue
        matched[coco_id] = image
    return matched


def _categories(
    project: Project, items: list[Any], create: bool, plan: ImportPlan
) -> dict[int, str]:
    """COCO category id -> the project's category name (new ones noted in the plan)."""
    existing = {
        name.lower(): name
        for name in Category.objects.filter(project=project).values_list("name", flat=True)
    }
    names: dict[int, str] = {}
    for index, item in enumerate(items):
        where = f"categories[{index}]"
        coco_id = _int(item.get("id")) if isinstance(item, dict) else None
        name = item.get("name") if isinstance(item, dict) else None
        if coco_id is None or not isinstance(name, str) or not name.strip() or len(name) > 100:
            plan.problem(f"{where}: needs an integer id and a name of 1–100 characters.")
            continue
        name = name.strip()
        known = existing.get(name.lower())
        if known is None:
            if not create:
                plan.problem(
                    f"{where}: {name!r} is not a category of this project "
                    "(tick “create missing categories” to add it)."
                )
                continue
            existing[name.lower()] = known = name
            plan.new_categories.append(name)
        names[coco_id] = known
    return names


def _mask(item: dict[str, Any], image: Image) -> tuple[dict[str, Any] | None, Any]:
    """(rle, box) for one annotation, or raise ValueError with the reason."""
    segmentation = item.get("segmentation")
    if isinstance(segmentation, dict):
        # Checked and compressed from the runs alone: drawing the pixels would cost
        # milliseconds a mask, minutes for a large file.
        try:
            rle, area = rle_normalize(segmentation)
        except MaskFormatError as error:
            raise ValueError(f"segmentation is not valid RLE: {error}") from None
        height, width = rle["size"]
        if (height, width) != (image.height, image.width):
            raise ValueError(
                f"the mask is {width}×{height}, the image {image.width}×{image.height}"
            )
        if not area:
            raise ValueError("the mask is empty")
        return rle, None
    if isinstance(segmentation, list) and segmentation:
        try:
            mask = polygons_to_mask(segmentation, image.height, image.width)
        except MaskFormatError as error:
            raise ValueError(f"segmentation polygons: {error}") from None
    elif segmentation in (None, []):
        box = item.get("bbox")
        numbers = [_number(v) for v in box] if isinstance(box, list) and len(box) == 4 else []
        if len(numbers) != 4 or any(v is None for v in numbers):
            raise ValueError("no segmentation, and bbox is not [x, y, width, height]")
        x, y, w, h = (float(v) for v in numbers if v is not None)
        if (
            w <= 0
            or h <= 0
            or x < 0
            or y < 0
            or x + w > image.width + 1
            or y + h > image.height + 1
        ):
            raise ValueError(f"bbox {box} does not fit the {image.width}×{image.height} image")
        return None, (x, y, min(x + w, image.width), min(y + h, image.height))
    else:
        raise ValueError("segmentation must be RLE, a list of polygons, or absent (bbox only)")
    if mask.shape != (image.height, image.width):
        raise ValueError(
            f"the mask is {mask.shape[1]}×{mask.shape[0]}, the image {image.width}×{image.height}"
        )
    if not mask.any():
        raise ValueError("the mask is empty")
    return rle_encode(mask), None


def plan_import(project: Project, data: Any, create_categories: bool) -> ImportPlan:
    plan = ImportPlan()
    if not isinstance(data, dict):
        plan.problem("The file must hold one JSON object with images, annotations, categories.")
        return plan
    image_items = _list(data, "images", MAX_IMAGES, plan)
    annotation_items = _list(data, "annotations", MAX_ANNOTATIONS, plan)
    category_items = _list(data, "categories", MAX_CATEGORIES, plan)
    if not plan.ok:
        return plan
    images = _match_images(project, image_items, plan)
    categories = _categories(project, category_items, create_categories, plan)
    for index, item in enumerate(annotation_items):
        where = f"annotations[{index}]"
        if not isinstance(item, dict):
            plan.problem(f"{where}: must be an object.")
            continue
        if _int(item.get("id")) is not None:
            where += f" (id {item['id']})"
        image = images.get(_int(item.get("image_id")) or -1)
        category = categories.get(_int(item.get("category_id")) or -1)
        if image is None or category is None:
            plan.problem(f"{where}: image_id and category_id must name entries above that passed.")
            continue
        try:
            rle, box = _mask(item, image)
        except ValueError as reason:
            plan.problem(f"{where}: {reason}.")
            continue
        plan.masks.append(PlannedMask(image.pk, category, rle, box))
    return plan
