"""Plain English for counts shown to people: "1 image", "2 images" (never "1 images"
or "image(s)"). Templates use Django's `pluralize`; JS uses static/js/human.js."""

from __future__ import annotations


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"
