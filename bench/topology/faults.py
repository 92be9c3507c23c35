"""Scenarios 1, 2 and 4: a push across nodes, a worker killed mid-encode, and the
database's connections killed under the web nodes.

Each returns counts (every lost or duplicated item; all must be 0) and timings.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from bench.topology.client import Sock, World, box_rle, http, png
from bench.topology.cluster import Cluster

PUSHES = 10
KILLS = 3


def image_state(image_id: int) -> tuple[str, int]:
    from labeling.models import Image

    row = (
        Image.objects.filter(pk=image_id)
        .values_list("embedding_status", "embedding_attempts")
        .first()
    )
    return row if row is not None else ("gone", 0)


def upload(cluster: Cluster, world: World, seed: int, node: int = 0) -> tuple[int, Any]:
    base = cluster.webs[node].url
    return http(
        "POST",
        f"{base}/api/v1/projects/{world.project_id}/images",
        world.owner,
        files=[(f"picture-{seed}.png", png(seed))],
        timeout=60,
    )


def uploaded_id(status: int, body: Any) -> int | None:
    if status != 200 or not isinstance(body, dict):
        return None
    results = body.get("results") or []
    if len(results) == 1 and results[0].get("image"):
        image = results[0]["image"]
        return int(image["id"] if isinstance(image, dict) else image)
    return None


def wait_ready(image_ids: list[int], timeout: float) -> list[int]:
    """Waits until every image is ready; returns those that are not by the deadline."""
    deadline = time.monotonic() + timeout
    left = list(image_ids)
    while left and time.monotonic() < deadline:
        left = [i for i in left if image_state(i)[0] != "ready"]
        if left:
            time.sleep(0.2)
    return left


def embedding_objects(cluster: Cluster, sha256: str) -> int:
    client = cluster.s3.client()
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=cluster.bucket, Prefix="embeddings/"
    )
    keys = [entry["Key"] for page in pages for entry in page.get("Contents", ())]
    return sum(1 for key in keys if sha256 in key)


# ------------------------------------------------------------ 1. cross-node push


def viewer_names(message: dict[str, Any]) -> str:
    return json.dumps(message.get("viewers", []))


async def cross_node_push(cluster: Cluster, world: World, image_id: int) -> dict[str, Any]:
    node_a, node_b = cluster.webs[0].url, cluster.webs[1].url
    path = f"/ws/images/{image_id}/"
    watcher = Sock(node_b, path, world.annie)
    await watcher.open()
    author = Sock(node_a, path, world.bert)
    opened = time.monotonic()
    await author.open()
    seen = await watcher.expect(
        lambda m: m.get("type") == "presence" and "bert" in viewer_names(m), 1.0
    )
    presence_ms = (seen[0] - opened) * 1000 if seen else None
    lost, duplicated, latencies = 0, 0, []
    height, width = 64, 96
    received: dict[int, int] = {}
    for index in range(PUSHES):
        rle = box_rle(height, width, index, 0, index + 5, 10)
        message = {"type": "accept", "seq": index + 1, "key": str(uuid.uuid4()), "rle": rle}
        sent = time.monotonic()
        await author.send(message)
        got = await watcher.expect(lambda m: m.get("type") == "annotation.created", 1.0)
        if got is None:
            lost += 1
            continue
        latencies.append((got[0] - sent) * 1000)
        annotation = got[1]["annotation"]["id"]
        received[annotation] = received.get(annotation, 0) + 1
    # Anything late or repeated shows up here: a second push of the same mask.
    while extra := await watcher.expect(lambda m: m.get("type") == "annotation.created", 0.5):
        annotation = extra[1]["annotation"]["id"]
        received[annotation] = received.get(annotation, 0) + 1
    duplicated = sum(count - 1 for count in received.values() if count > 1)
    await author.close()
    await watcher.close()
    return {
        "push_lost": lost + (0 if presence_ms is not None else 1),
        "push_duplicated": duplicated,
        "push_max_ms": round(max(latencies), 1) if latencies else None,
        "presence_ms": round(presence_ms, 1) if presence_ms is not None else None,
    }


# ---------------------------------------------------- 2. worker SIGKILL mid-encode


def kill_mid_encode(cluster: Cluster, world: World) -> dict[str, Any]:
    from labeling.models import Image

    not_ready, duplicated, not_killed_running, recoveries = 0, 0, 0, []
    embedder = cluster.embedder
    assert embedder is not None
    for round_ in range(KILLS):
        image_id = uploaded_id(*upload(cluster, world, 1000 + round_, node=round_ % 2))
        if image_id is None:
            not_ready += 1
            continue
        deadline = time.monotonic() + 60
        while image_state(image_id)[0] != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        if image_state(image_id)[0] != "running":
            not_killed_running += 1
        embedder.kill()
        killed = time.monotonic()
        embedder.start()
        if wait_ready([image_id], 90):
            not_ready += 1
            continue
        recoveries.append(time.monotonic() - killed)
        image = Image.objects.get(pk=image_id)
        rows = Image.objects.filter(project_id=world.project_id, sha256=image.sha256).count()
        duplicated += (rows - 1) + abs(embedding_objects(cluster, image.sha256) - 1)
    return {
        "sigkill_not_ready": not_ready + not_killed_running,
        "sigkill_duplicated": duplicated,
        "sigkill_recovery_s": round(max(recoveries), 1) if recoveries else None,
    }


# ---------------------------------------------- 4. database connections killed


async def database_killed(cluster: Cluster, world: World, image_id: int) -> dict[str, Any]:
    path = f"/ws/images/{image_id}/"
    sockets = [Sock(web.url, path, world.annie) for web in cluster.webs]
    for sock in sockets:
        await sock.open()
    # Let every node use (and pool) its connections first.
    for web in cluster.webs:
        http("GET", f"{web.url}/api/v1/projects/{world.project_id}", world.annie)
    terminated = await asyncio.to_thread(cluster.database.terminate_others)
    await asyncio.sleep(0.2)
    http_failed = 0
    for web in cluster.webs:
        status, _ = await asyncio.to_thread(
            http, "GET", f"{web.url}/api/v1/projects/{world.project_id}", world.annie
        )
        http_failed += status != 200
    socket_failed = 0
    for index, sock in enumerate(sockets):
        reply = await sock.request({"type": "ping", "seq": 100 + index})
        socket_failed += reply is None or reply.get("type") != "pong"
        rle = box_rle(64, 96, 40, 40 + index, 50, 50 + index)
        key = str(uuid.uuid4())
        saved = await sock.request({"type": "accept", "seq": 200 + index, "key": key, "rle": rle})
        socket_failed += saved is None or saved.get("type") != "saved"
    # The sockets stayed open through it (their access checks hit the database too).
    await asyncio.sleep(1.5)
    socket_failed += sum(1 for sock in sockets if sock.closed_with is not None)
    for sock in sockets:
        await sock.close()
    return {
        "db_terminated": terminated,
        "db_http_failed": http_failed,
        "db_socket_failed": socket_failed,
    }
