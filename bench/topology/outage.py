"""Scenario 3: Redis stopped for OUTAGE_SECONDS, then started again (AOF kept).

Before it, the embeddings and default workers are stopped and work is queued
(uploads' embeddings and an export), so the outage holds tasks that only Redis
remembers. During it: every open socket must close for retry (4503), handshakes
must be refused cleanly (never an HTTP 500), accepts go unanswered and are resent
with their idempotency key, and uploads either work or fail with a clear answer.
After it: the queued tasks are still queued, every socket reconnects with the
page's backoff, and every accepted upload ends ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

from bench.topology.client import Sock, World, box_rle, http, orm, reconnect
from bench.topology.cluster import Cluster
from bench.topology.faults import upload, uploaded_id, wait_ready

OUTAGE_SECONDS = 10
QUEUED = 3
ACCEPTS = 5
UPLOADS = 3


def queue_length(cluster: Cluster, queue: str) -> int:
    import redis

    client = redis.Redis.from_url(cluster.redis.url)
    try:
        return int(client.llen(queue))
    finally:
        client.close()


def stored_originals(cluster: Cluster) -> set[str]:
    client = cluster.s3.client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=cluster.bucket)
    keys = {entry["Key"] for page in pages for entry in page.get("Contents", ())}
    return {key for key in keys if not key.startswith(("embeddings/", "thumbnails/", "exports/"))}


def half_written(cluster: Cluster, world: World) -> int:
    """Rows whose file is missing, and image files no row names."""
    from labeling.models import Image

    files = set(Image.objects.filter(project_id=world.project_id).values_list("file", flat=True))
    stored = stored_originals(cluster)
    return len(files - stored) + len({key for key in stored if key.startswith("images/")} - files)


async def redis_outage(cluster: Cluster, world: World, image_id: int) -> dict[str, Any]:
    from labeling.models import Annotation

    assert cluster.embedder is not None and cluster.default_worker is not None
    counts: dict[str, Any] = {}
    # Work that only Redis holds: the workers are stopped, so it waits in the queues.
    cluster.embedder.stop()
    cluster.default_worker.stop()
    queued = [uploaded_id(*upload(cluster, world, 2000 + i, node=i % 2)) for i in range(QUEUED)]
    status, export = http(
        "POST", f"{cluster.webs[1].url}/api/v1/projects/{world.project_id}/exports",
        world.owner, {"statuses": ["draft"]},
    )  # fmt: skip
    export_id = export.get("id") if status == 202 and isinstance(export, dict) else None
    await asyncio.sleep(1.5)  # AOF is fsynced every second
    waiting_before = queue_length(cluster, "embeddings") + queue_length(cluster, "default")

    paths = [f"/ws/images/{image_id}/", f"/ws/projects/{world.project_id}/"]
    sockets = [Sock(web.url, path, world.annie) for web in cluster.webs for path in paths]
    for sock in sockets:
        await sock.open()
    cluster.redis.stop()
    stopped = time.monotonic()

    # Accepts sent as the outage starts, on a socket that may not have noticed yet:
    # each may be saved with its reply lost, or not reach the server at all.
    keys = [str(uuid.uuid4()) for _ in range(ACCEPTS)]
    frames = [
        {"type": "accept", "seq": 500 + i, "key": key, "rle": box_rle(64, 96, 60, i, 70, i + 3)}
        for i, key in enumerate(keys)
    ]
    for frame in frames:
        with contextlib.suppress(Exception):  # closed already: the page keeps it to resend
            await sockets[0].send(frame)
    closes = [await sock.wait_closed(OUTAGE_SECONDS) for sock in sockets]
    counts["outage_socket_not_closed"] = sum(code != 4503 for code in closes)

    # Uploads during the outage: either accepted (and later embedded) or refused clearly.
    accepted_uploads, unclear = [], 0
    for i in range(UPLOADS):
        status, body = await asyncio.to_thread(upload, cluster, world, 3000 + i, i % 2)
        new = uploaded_id(status, body)
        if new is not None:
            accepted_uploads.append(new)
        elif status not in (503,) or not body:
            unclear += 1
    refusals: dict[int, int] = {}
    reconnects = [
        asyncio.create_task(reconnect(sock, stopped + OUTAGE_SECONDS + 40, refusals))
        for sock in sockets
    ]
    await asyncio.sleep(max(0.0, stopped + OUTAGE_SECONDS - time.monotonic()))
    cluster.redis.start()
    restarted = time.monotonic()
    counts["outage_queued_lost"] = max(
        0, waiting_before - queue_length(cluster, "embeddings") - queue_length(cluster, "default")
    )
    # The workers come back with Redis (they boot while the sockets reconnect).
    cluster.embedder.start()
    cluster.default_worker.start()
    back = await asyncio.gather(*reconnects)
    # A clean refusal is a close before accept (uvicorn answers 403); a 500, a reset
    # or a hang is not.
    counts["outage_handshake_not_clean"] = sum(n for code, n in refusals.items() if code != 403)
    counts["outage_sockets_not_back"] = sum(1 for at in back if at is None)
    counts["outage_reconnect_s"] = round(max((at or 0) - restarted for at in back), 1)
    counts["outage_handshakes_refused"] = sum(refusals.values())

    # The page resends what got no reply, with the same key: on both nodes, to be sure.
    resend_failed = 0
    for sock in sockets[0], sockets[2]:
        for frame in frames:
            reply = await sock.request(frame) if sock.closed_with is None else None
            resend_failed += reply is None or reply.get("type") != "saved"
    counts["outage_resend_failed"] = resend_failed
    saved = {key: await orm(Annotation.objects.filter(client_key=key).count) for key in keys}
    counts["outage_push_lost_after"] = int(not await push_flows(sockets[0], sockets[2]))
    counts["outage_accepts_lost"] = sum(1 for n in saved.values() if n == 0)
    counts["outage_accepts_duplicated"] = sum(n - 1 for n in saved.values() if n > 1)

    embedded = [i for i in (*queued, *accepted_uploads) if i is not None]
    not_ready = await orm(wait_ready, embedded, 120)
    counts["outage_tasks_lost"] = len(not_ready) + sum(1 for i in queued if i is None)
    counts["outage_upload_unclear"] = unclear
    counts["outage_uploads_accepted"] = len(accepted_uploads)
    counts["outage_half_written"] = await orm(half_written, cluster, world)
    exported = await asyncio.to_thread(export_done, cluster, world, export_id, 60)
    counts["outage_export_lost"] = int(not exported)
    for sock in sockets:
        await sock.close()
    return counts


def export_done(cluster: Cluster, world: World, export_id: Any, timeout: float) -> bool:
    if export_id is None:
        return False
    deadline = time.monotonic() + timeout
    url = f"{cluster.webs[0].url}/api/v1/projects/{world.project_id}/exports/{export_id}"
    while time.monotonic() < deadline:
        status, body = http("GET", url, world.owner)
        if status == 200 and isinstance(body, dict) and body.get("status") == "done":
            return True
        time.sleep(0.3)
    return False


async def push_flows(author: Sock, watcher: Sock) -> bool:
    """A new mask on one node reaches the other node's socket again (within 2 s)."""
    if author.closed_with is not None or watcher.closed_with is not None:
        return False
    frame = {
        "type": "accept",
        "seq": 900,
        "key": str(uuid.uuid4()),
        "rle": box_rle(64, 96, 0, 50, 9, 60),
    }
    reply = await author.request(frame)
    if not reply or reply.get("type") != "saved":
        return False
    new_id = reply["annotation"]["id"]
    got = await watcher.expect(
        lambda m: m.get("type") == "annotation.created" and m["annotation"]["id"] == new_id, 2.0
    )
    return got is not None
