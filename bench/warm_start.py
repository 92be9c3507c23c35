"""Warm start: how long a fresh web process takes to be ready, and its first click.

Prepares (in a subprocess, untimed) a user, a project on full-size SAM ViT-B with
random weights and one 1024x768 image whose embedding is computed and stored; then
starts a real `manage.py serve --no-worker`, polls `/readyz` until the process has
warmed its models (`ready_s`: from starting the process to ready), logs in, opens
the image's socket and times the first click (`first_click_ms`) and the median of
the next ten (`warm_click_ms`), from sending the prompt to its `masks` reply.

    .venv/bin/python bench/warm_start.py [--port 8766] [--cold]

`--cold` turns the warm start off (ANYMASK_WARM_START=false), for the figures from
before it: the first click then loads the model. Prints one JSON line
(`{"bench": "warm_start", "ready_s": ..., "first_click_ms": ..., "warm_click_ms": ...}`).
Run it through `make bench-warm`, which gives it a throwaway var dir and key.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import bench_server  # noqa: E402
from bench.ws_clicks import connect, login  # noqa: E402

WARM_CLICKS = 10


def prepare(args: argparse.Namespace) -> None:
    """Untimed setup, in its own process: prints the image id."""
    _project, image = bench_server.prepare_image(
        args.model_dir, args.username, args.password, "warm_start bench", embed=True
    )
    print(image)


async def clicks(base: str, session: str, image_id: int) -> tuple[float, list[float]]:
    ws_url = base.replace("http", "ws", 1) + f"/ws/images/{image_id}/"
    timings: list[float] = []
    async with connect(ws_url, session, base) as socket:
        hello = json.loads(await socket.recv())
        if hello["image"]["embedding"] != "ready":
            raise SystemExit(f"the image's embedding is {hello['image']['embedding']!r}")
        for seq in range(1, WARM_CLICKS + 2):
            prompt = {"type": "prompt", "seq": seq, "points": [[90 * seq, 300]], "labels": [1]}
            sent = time.perf_counter()
            await socket.send(json.dumps(prompt))
            while True:
                reply = json.loads(await asyncio.wait_for(socket.recv(), 300))
                if reply.get("seq") == seq:
                    break
            if reply.get("type") != "masks":
                raise SystemExit(f"click {seq} got {reply}")
            timings.append((time.perf_counter() - sent) * 1000)
    return timings[0], timings[1:]


def run(args: argparse.Namespace) -> dict[str, Any]:
    image_id = int(bench_server.run_prepare(__file__, args.model_dir, args.username, args.password))
    base = f"http://127.0.0.1:{args.port}"
    env = {**os.environ, "ANYMASK_WARM_START": "false" if args.cold else "true"}
    log = bench_server.server_log("warm_start-server.log")
    started = time.monotonic()
    with bench_server.serve(args.port, log, "--no-worker", env=env) as server:
        ready = bench_server.wait_ready(base, server, args.timeout)
        ready_s = time.monotonic() - started
        if ready["models"]["failed"]:
            raise SystemExit(f"a model failed to load; see {log}")
        session = login(base, args.username, args.password)
        first, warm = asyncio.run(clicks(base, session, image_id))
    return {
        "bench": "warm_start",
        "warm_start": not args.cold,
        "ready_s": round(ready_s, 2),
        "first_click_ms": round(first, 1),
        "warm_click_ms": round(statistics.median(warm), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=["run", "prepare"], default="run")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--username", default="bench")
    parser.add_argument("--password", default=os.environ.get("BENCH_PASSWORD", ""))
    parser.add_argument("--model-dir", default=str(bench_server.MODEL_DIR))
    parser.add_argument("--cold", action="store_true", help="turn the warm start off")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    if not args.password:
        raise SystemExit("give --password or BENCH_PASSWORD (make bench-warm does)")
    if args.command == "prepare":
        prepare(args)
        return
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
