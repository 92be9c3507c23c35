"""Click-to-mask latency over the labeling websocket, N clients at a fixed click rate.

Starts nothing: it logs in to a running server over HTTP (session cookie), opens one
socket per client on `ws/images/<id>/`, waits until the image's embedding is ready,
then every client clicks a random point at `--rate` clicks a second (fixed schedule,
random phase) for `--seconds`. Latency is from sending a prompt to receiving its
`masks` reply, measured by the client.

    .venv/bin/python bench/ws_clicks.py --url http://127.0.0.1:8765 \\
        --username bench --password ... --image 1 [--clients 10 --rate 2 --seconds 30]

Prints a summary, then one JSON line. `make bench-ws` prepares a server (the
`prepare` sub-command below: a project on the full-size SAM ViT-B config with random
weights and one 1024x768 image), runs this against it, and stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import http.cookiejar
import json
import os
import random
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    superseded: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    decode_ms: list[float] = field(default_factory=list)
    # Latency minus the server's decode: queueing, access checks, transport, JSON.
    overhead_ms: list[float] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what[:200])


def login(base: str, username: str, password: str) -> str:
    """Log in like a browser (CSRF cookie + form); return the session cookie value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login_url = f"{base}/accounts/login/"
    deadline = time.monotonic() + 120  # a server started just before may still be starting
    while True:
        try:
            with opener.open(login_url, timeout=30) as response:
                page = response.read().decode()
            break
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if token is None:
        raise SystemExit("no CSRF token on the login page")
    form = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)}
    ).encode()
    request = urllib.request.Request(login_url, data=form, headers={"Referer": login_url})  # noqa: S310
    with opener.open(request, timeout=30):
        pass
    for cookie in jar:
        if cookie.name == "sessionid" and cookie.value:
            return cookie.value
    raise SystemExit("login failed: check the username and password")


def connect(ws_url: str, session: str, origin: str) -> Any:
    import websockets

    return websockets.connect(
        ws_url,
        additional_headers={"Cookie": f"sessionid={session}"},
        origin=origin,  # type: ignore[arg-type]
        max_size=2**24,
    )


async def warm_up(ws_url: str, session: str, origin: str, timeout: float) -> None:
    """Wait for the embedding, then decode a few clicks so the server has loaded the
    model and the embedding before anything is timed."""
    async with connect(ws_url, session, origin) as socket:
        hello = json.loads(await socket.recv())
        status = hello["image"]["embedding"]
        deadline = time.monotonic() + timeout
        while status != "ready":
            if status == "failed" or time.monotonic() > deadline:
                raise SystemExit(f"the image's embedding is {status!r}; giving up")
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout))
            if message.get("type") == "embedding":
                status = message["status"]
        for seq in range(1, 6):
            prompt = {"type": "prompt", "seq": seq, "points": [[100 * seq, 80]], "labels": [1]}
            await socket.send(json.dumps(prompt))
            reply = json.loads(await asyncio.wait_for(socket.recv(), 120))
            if reply.get("type") != "masks":
                raise SystemExit(f"warm-up click failed: {reply}")


async def client(
    ws_url: str,
    session: str,
    origin: str,
    args: argparse.Namespace,
    start_at: float,
    tally: Tally,
    seed: int,
) -> None:
    rng = random.Random(seed)
    sent: dict[int, float] = {}
    async with connect(ws_url, session, origin) as socket:
        hello = json.loads(await socket.recv())
        width, height = hello["image"]["width"], hello["image"]["height"]
        done = asyncio.Event()

        async def read() -> None:
            async for frame in socket:
                message = json.loads(frame)
                kind, seq = message.get("type"), message.get("seq")
                if kind == "masks" and seq in sent:
                    latency = time.perf_counter() - sent.pop(seq)
                    tally.latencies.append(latency)
                    tally.decode_ms.append(message["decode_ms"])
                    tally.overhead_ms.append(latency * 1000 - message["decode_ms"])
                elif kind == "superseded" and seq in sent:
                    sent.pop(seq)
                    tally.superseded += 1
                elif kind in {"error", "pending"}:
                    sent.pop(seq, None)
                    tally.error(json.dumps(message))
                if done.is_set() and not sent:
                    return

        reader = asyncio.create_task(read())
        # Every client starts at the same moment, each at its own phase of the period.
        period = 1 / args.rate
        first = start_at + rng.uniform(0, period)
        seq = 0
        while (due := first + seq * period) < start_at + args.seconds:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            seq += 1
            x, y = rng.uniform(0, width), rng.uniform(0, height)
            sent[seq] = time.perf_counter()
            prompt = {"type": "prompt", "seq": seq, "points": [[x, y]], "labels": [1]}
            await socket.send(json.dumps(prompt))
        done.set()
        try:
            await asyncio.wait_for(reader, timeout=30)
        except TimeoutError:
            reader.cancel()
            for _ in sent:
                tally.error("no reply within 30 s")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    base = args.url.rstrip("/")
    session = login(base, args.username, args.password)
    ws_url = re.sub(r"^http", "ws", base) + f"/ws/images/{args.image}/"
    await warm_up(ws_url, session, base, args.ready_timeout)
    tally = Tally()
    start_at = time.perf_counter() + 1.0  # time for every client's handshake
    await asyncio.gather(
        *(
            client(ws_url, session, base, args, start_at, tally, seed)
            for seed in range(args.clients)
        )
    )
    return summarize(args, tally)


def summarize(args: argparse.Namespace, tally: Tally) -> dict[str, Any]:
    ms = np.array(tally.latencies) * 1000 if tally.latencies else np.array([float("nan")])
    result = {
        "bench": "ws_clicks",
        "clients": args.clients,
        "rate_hz": args.rate,
        "seconds": args.seconds,
        "masks": len(tally.latencies),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "decode_p50_ms": round(float(np.median(tally.decode_ms)), 1) if tally.decode_ms else None,
        "overhead_p50_ms": (
            round(float(np.median(tally.overhead_ms)), 1) if tally.overhead_ms else None
        ),
        "errors": tally.errors,
        "superseded": tally.superseded,
    }
    print(
        f"{args.clients} clients x {args.rate:g} clicks/s for {args.seconds:g} s: "
        f"{result['masks']} masks, click-to-mask p50 {result['p50_ms']} ms, "
        f"p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms "
        f"(server decode p50 {result['decode_p50_ms']} ms, "
        f"the rest p50 {result['overhead_p50_ms']} ms); "
        f"superseded {tally.superseded}, errors {tally.errors}"
    )
    for sample in tally.error_samples:
        print(f"  error: {sample}")
    return result


# ------------------------------------------------------------- make bench-ws setup


def prepare(args: argparse.Namespace) -> None:
    """Create a user, a project on full-size SAM ViT-B with random weights, and one
    1024x768 image (queued for embedding). Prints the image id. Needs Django."""
    sys.path.insert(0, str(ROOT))
    from bench.bench_server import prepare_image

    _project, image = prepare_image(
        args.model_dir, args.username, args.password, "ws_clicks bench", embed=False
    )
    print(image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=["run", "prepare"], default="run")
    parser.add_argument("--url", default="http://127.0.0.1:8765")
    parser.add_argument("--username", default="bench")
    parser.add_argument("--password", default=os.environ.get("BENCH_PASSWORD", ""))
    parser.add_argument("--image", type=int, default=1)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rate", type=float, default=2.0, help="clicks a second per client")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--ready-timeout", type=float, default=600.0)
    parser.add_argument("--model-dir", default=str(ROOT / "var/bench-models/sam-vit-base-coherent"))
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args)
        return
    result = asyncio.run(run(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
