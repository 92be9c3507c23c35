"""Scenario 5: two users edit one mask at once, one through the API, one through the
socket, EDITS times in all. Each edit sends the version it last saw; the server
either applies it (a new version) or answers a conflict with the current mask. No
update may be lost: every applied edit is in the history with its own mask, and
every refused one was told so.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from bench.topology.client import Sock, World, http, orm
from bench.topology.cluster import Cluster

EDITS = 100
HEIGHT, WIDTH = 64, 96


def mask_of_area(area: int) -> dict[str, Any]:
    """A mask of exactly `area` pixels (the first ones in column order): each edit's
    area is its own, so the history shows which edit made which version."""
    from inference.masks import rle_encode

    flat = np.zeros(HEIGHT * WIDTH, bool)
    flat[:area] = True
    return dict(rle_encode(flat.reshape((WIDTH, HEIGHT)).T))


async def concurrent_edits(cluster: Cluster, world: World, image_id: int) -> dict[str, Any]:
    from labeling.models import Annotation, AnnotationEvent

    api = cluster.webs[0].url + "/api/v1"
    status, created = http(
        "POST", f"{api}/projects/{world.project_id}/annotations", world.annie,
        {"image": image_id, "rle": mask_of_area(1)},
    )  # fmt: skip
    if status != 201:
        return {"edits_unexpected": EDITS, "edits_setup": status}
    annotation_id = created["id"]
    applied: dict[int, int] = {}  # version -> area of the edit that made it
    conflicts, unexpected = 0, 0

    def over_api(area: int, version: int) -> int:
        nonlocal conflicts, unexpected
        url = f"{api}/projects/{world.project_id}/annotations/{annotation_id}"
        body = {"version": version, "rle": mask_of_area(area)}
        status, reply = http("PATCH", url, world.annie, body)
        if status == 200:
            applied[reply["version"]] = area
            return int(reply["version"])
        if status == 409:
            conflicts += 1
            return int(reply["current"]["version"])
        unexpected += 1
        return version

    async def api_side(areas: list[int]) -> None:
        version = 1
        for area in areas:
            version = await asyncio.to_thread(over_api, area, version)

    sock = Sock(cluster.webs[1].url, f"/ws/images/{image_id}/", world.bert)
    await sock.open()

    async def socket_side(areas: list[int]) -> None:
        nonlocal conflicts, unexpected
        version = 1
        for seq, area in enumerate(areas, 1000):
            reply = await sock.request(
                {"type": "update", "seq": seq, "id": annotation_id, "version": version,
                 "rle": mask_of_area(area)}
            )  # fmt: skip
            kind = reply.get("type") if reply else None
            if kind == "saved" and reply:
                version = reply["annotation"]["version"]
                applied[version] = area
            elif kind == "conflict" and reply:
                conflicts += 1
                version = reply["annotation"]["version"]
            else:
                unexpected += 1

    areas = list(range(2, EDITS + 2))
    await asyncio.gather(api_side(areas[0::2]), socket_side(areas[1::2]))
    await sock.close()

    def recorded() -> list[tuple[int, Any]]:
        events = AnnotationEvent.objects.filter(annotation_id=annotation_id, action="updated")
        return list(events.values_list("version", "changes"))

    events = await orm(recorded)
    history = {version: changes["mask"]["area"][1] for version, changes in events}
    lost = sum(1 for version, area in applied.items() if history.get(version) != area)
    final = await orm(lambda: Annotation.objects.get(pk=annotation_id))
    top = max(applied, default=1)
    lost += int(final.version != top or (bool(applied) and final.area != applied[top]))
    return {
        "edits_applied": len(applied),
        "edits_conflicts": conflicts,
        "edits_unexpected": unexpected + (EDITS - len(applied) - conflicts - unexpected),
        "edits_lost": lost,
        "edits_duplicated": max(0, len(events) - len(applied)),
    }
