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
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ws_clicks import connect, login  # noqa: E402

WARM_CLICKS = 10


def prepare(args: argparse.Namespace) -> None:
    """Untimed setup, in its own process: prints the image id."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labeling.settings")
    import io

    import django

    django.setup()
    from django.contrib.auth.models import User
    from PIL import Image as PILImage

    from inference import load_model
    from inference.testing import save_random_model, synthetic_image
    from labeling import embedding_store
    from labeling.models import EmbeddingStatus, Image
    from labeling.services.projects import do_create_project
    from labeling.services.uploads import do_add_image

    model_dir = Path(args.model_dir)
    if not (model_dir / "model.safetensors").exists():
        save_random_model("sam-vit-base", model_dir, coherent=True)
    spec = str(model_dir.resolve())
    user = User.objects.filter(username=args.username).first()
    if user is None:
        user = User.objects.create_user(args.username, password=args.password)
    project = do_create_project(user, name="warm_start bench")
    project.model_spec = spec  # set directly: the operator runs this, not a form
    project.save()
    out = io.BytesIO()
    PILImage.fromarray(synthetic_image(768, 1024)).save(out, format="PNG")
    out.seek(0)
    image = do_add_image(project, user, out, "bench.png")
    image.refresh_from_db()
    embedding_store.compute(load_model(spec), image)
    Image.objects.filter(pk=image.pk).update(embedding_status=EmbeddingStatus.READY)
    print(image.pk)


def wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:  # noqa: S310
                body: dict[str, Any] = json.loads(response.read())
                return body
        except urllib.error.HTTPError as error:  # 503 while warming
            error.close()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet
        time.sleep(0.05)
    raise SystemExit(f"/readyz did not answer 200 within {timeout} s")


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
    command = [sys.executable, __file__, "prepare", "--model-dir", args.model_dir]
    command += ["--username", args.username]
    prepared = subprocess.run(  # noqa: S603 - our interpreter, our script
        command,
        env={**os.environ, "BENCH_PASSWORD": args.password},
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    image_id = int(prepared.stdout.strip().splitlines()[-1])
    base = f"http://127.0.0.1:{args.port}"
    env = {**os.environ, "ANYMASK_WARM_START": "false" if args.cold else "true"}
    log = Path(os.environ.get("ANYMASK_VAR_DIR", ROOT / "var")) / "warm_start-server.log"
    started = time.monotonic()
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "serve", "--no-worker", "--port", str(args.port)],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        ready = wait_ready(base, server, args.timeout)
        ready_s = time.monotonic() - started
        if ready["models"]["failed"]:
            raise SystemExit(f"a model failed to load; see {log}")
        session = login(base, args.username, args.password)
        first, warm = asyncio.run(clicks(base, session, image_id))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
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
    parser.add_argument("--model-dir", default=str(ROOT / "var/bench-models/sam-vit-base-coherent"))
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
