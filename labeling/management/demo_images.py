"""Procedurally drawn sample images for the demo project (no downloads needed)."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFilter


def _background(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    height = size[1]
    top = tuple(rng.randint(150, 235) for _ in range(3))
    bottom = tuple(rng.randint(60, 160) for _ in range(3))
    gradient = Image.new("RGB", (1, height))
    for y in range(height):
        t = y / max(height - 1, 1)
        gradient.putpixel(
            (0, y), tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        )
    return gradient.resize(size)


def draw_sample(seed: int, size: tuple[int, int] = (1024, 768)) -> bytes:
    """A JPEG with a few overlapping shapes, some with holes: good SAM practice."""
    rng = random.Random(seed)  # noqa: S311 - reproducible pictures, not secrets
    image = _background(rng, size)
    draw = ImageDraw.Draw(image)
    width, height = size
    for _ in range(rng.randint(4, 7)):
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        x, y = rng.randint(0, width - 200), rng.randint(0, height - 200)
        w, h = rng.randint(80, 260), rng.randint(80, 260)
        kind = rng.choice(["ellipse", "rectangle", "ring", "triangle"])
        if kind == "ellipse":
            draw.ellipse((x, y, x + w, y + h), fill=colour, outline=(20, 20, 20), width=3)
        elif kind == "rectangle":
            draw.rectangle((x, y, x + w, y + h), fill=colour)
        elif kind == "ring":
            draw.ellipse((x, y, x + w, y + w), outline=colour, width=max(12, w // 6))
        else:
            draw.polygon([(x, y + h), (x + w // 2, y), (x + w, y + h)], fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(0.8))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()
