"""The image's change history as people read it: who did what to which mask, when.

Rows come from the append-only `AnnotationEvent` log. Mask pixels stay out of the
summary (an RLE means nothing on screen); a mask edit reads as "mask edited" with
its new area.
"""

from __future__ import annotations

from typing import Any

from labeling.models import AnnotationEvent, Category, Image

SHOWN = 200  # newest first; older entries stay in the database


def _describe(action: str, changes: dict[str, Any], names: dict[int, str]) -> list[str]:
    def category(value: Any) -> str:
        return names.get(value, "no category") if value is not None else "no category"

    parts: list[str] = []
    if action == "created":
        parts.append(f"added ({changes.get('source', '?')})")
        if changes.get("category", [None, None])[1] is not None:
            parts.append(f"as {category(changes['category'][1])}")
        return parts
    if action == "deleted":
        return ["deleted"]
    if action == "restored":
        return [f"restored (undo of its delete at v{changes.get('restores', '?')})"]
    if "reverts" in changes:
        parts.append(f"undid the change to v{changes['reverts']}:")
    if "status" in changes:
        parts.append(f"{changes['status'][0]} → {changes['status'][1]}")
    if "category" in changes:
        parts.append(
            f"category {category(changes['category'][0])} → {category(changes['category'][1])}"
        )
    if "mask" in changes:
        area = changes["mask"].get("area", [None, None])[1]
        parts.append(f"mask edited ({area} px)" if area is not None else "mask edited")
    if "review_comment" in changes:
        comment = changes["review_comment"][1]
        parts.append(f"comment: {comment}" if comment else "comment cleared")
    return parts or ["changed"]


def image_history(image: Image) -> list[dict[str, Any]]:
    names = dict(Category.objects.filter(project_id=image.project_id).values_list("id", "name"))
    events = (
        AnnotationEvent.objects.filter(image=image)
        .select_related("actor")
        .order_by("-created_at", "-id")[:SHOWN]
    )
    return [
        {
            "annotation": event.annotation_id,
            "version": event.version,
            "action": event.action,
            "by": event.actor.username if event.actor else "machine",
            "at": event.created_at.isoformat(timespec="seconds"),
            "what": _describe(event.action, event.changes, names),
        }
        for event in events
    ]
