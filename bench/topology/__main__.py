"""Run the topology and its scenarios: `python -m bench.topology` (see __init__)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent

# Timings and names, not counts: everything else in the line must be 0.
NOT_COUNTS = {
    "bench", "seconds", "push_max_ms", "presence_ms", "sigkill_recovery_s", "db_terminated",
    "outage_reconnect_s", "outage_handshakes_refused", "outage_uploads_accepted",
    "edits_applied", "edits_conflicts", "failed_step", "error",
}  # fmt: skip
# The embeddings worker: an encode slow enough to be killed in, a lease short enough
# that a dead worker is found in seconds (production: 60 s), and a sweep every second.
WORKER_ENV = {
    "ANYMASK_TEST_ENCODE_DELAY_MS": "500",
    "ANYMASK_EMBEDDING_LEASE_SECONDS": "2",
    "ANYMASK_EMBEDDING_SWEEP_SECONDS": "1",
}


def configure(cluster: Any) -> None:
    """This process's Django, before anything imports its settings: the run's own
    database and Redis (to seed rows and check them), media on its own filesystem."""
    os.environ.update(cluster.env("harness", s3=False, ANYMASK_DB_POOL_SIZE="0"))
    import django

    django.setup()


def note(what: str, since: float) -> None:
    print(f"topology: {what}: {time.monotonic() - since:.1f} s", file=sys.stderr)


def server_errors(cluster: Any) -> int:
    """HTTP 500s and failed socket messages the web nodes logged, all run long."""
    marks = ("Internal Server Error", "labeling socket: ", "Exception in ASGI application")
    return sum(
        sum(1 for line in web.log.open(errors="replace") if any(m in line for m in marks))
        for web in cluster.webs
    )


def run(root: Path, keep: Path | None) -> dict[str, Any]:
    from inference.testing import save_tiny_sam

    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labeling.settings")
    sys.path.insert(0, str(ROOT))
    from bench.topology.cluster import Cluster

    base = os.environ.get("DATABASE_URL", "")
    model = save_tiny_sam(root / "model")
    cluster = Cluster(root, base, model, os.environ["SECRET_KEY"])
    result: dict[str, Any] = {"bench": "topology"}
    started = time.monotonic()
    step = "start"
    try:
        configure(cluster)
        from django.core.management import call_command

        cluster.start_services(lambda: call_command("migrate", "--noinput", verbosity=0))
        from bench.topology import client, edits, faults, outage

        world = client.seed(str(model))
        note("services", started)
        cluster.start_app(WORKER_ENV)
        note("web nodes", started)
        step = "first image"
        image_id = faults.uploaded_id(*faults.upload(cluster, world, 1))
        if image_id is None or faults.wait_ready([image_id], 120):
            raise RuntimeError("the first image was not embedded")
        note("first image", started)
        steps: list[tuple[str, Any]] = [
            ("push", lambda: asyncio.run(faults.cross_node_push(cluster, world, image_id))),
            ("sigkill", lambda: faults.kill_mid_encode(cluster, world)),
            ("redis", lambda: asyncio.run(outage.redis_outage(cluster, world, image_id))),
            ("database", lambda: asyncio.run(faults.database_killed(cluster, world, image_id))),
            ("edits", lambda: asyncio.run(edits.concurrent_edits(cluster, world, image_id))),
        ]
        from django.db import connections

        for step, scenario in steps:
            connections.close_all()  # a scenario may have killed this process's own
            began = time.monotonic()
            result.update(scenario())
            note(step, began)
        step = ""
        result["server_errors"] = server_errors(cluster)
    except Exception as error:
        traceback.print_exc()
        result["error"] = repr(error)[:300]
    finally:
        if step:
            result["failed_step"] = step
            result["not_finished"] = 1
        if keep is not None:
            cluster.keep_logs(keep)
        cluster.stop()
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def stop_on_sigterm() -> None:
    """A SIGTERM (CI's timeout, `kill`) unwinds like Ctrl-C, so the `finally` that
    stops every process runs: the app processes are in sessions of their own, and
    nothing else would stop them."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


def main() -> None:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--logs", type=Path, help="copy every process's log here at the end")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="anymask-topology-") as tmp:
        result = run(Path(tmp), args.logs)
    print(json.dumps(result))
    bad = {k: v for k, v in result.items() if k not in NOT_COUNTS and v not in (0, None)}
    bad.update({k: v for k, v in result.items() if k not in NOT_COUNTS and v is None})
    if bad:
        print(f"topology: non-zero counts {bad}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
