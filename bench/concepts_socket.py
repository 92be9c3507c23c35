"""Concept query to instances shown, end to end, with the worker running: the
labeling page's Find box in headless Chromium against a real `manage.py serve` (the
web server and its embedded worker, which serves the `concepts` queue).

Each query is timed in the page, from the Find form's submit (the page sends the
`concept` frame in that handler) to the panel showing the results plus the next
animation frame (the list and the canvas drawn): the socket, the `concepts` queue,
the worker's query, the database row, the channel-layer nudge, the reply and the
page's drawing. It measures

* first: the first query on the image (the worker computes its vision features);
* cached: the same phrase again (features and text cached), p50;
* new phrase: a phrase not asked before (its text encoded), p50.

The SAM 3 here is a REDUCED config (`tiny_sam3_config(1008)`: a 2-layer, 32-wide
ViT and one-layer heads at the real 1008-px input, 72x72 grid and FPN shapes, random
weights), not the full-size model: full size takes minutes per query on a 2-core
CPU, which would bury the path's own cost. These figures are the path around the
model; add the full model's query times (`bench/concepts.py`) for a real SAM 3.

    .venv/bin/python bench/concepts.py --socket [--iters 5]

Prints one JSON line `{"bench": "concepts_socket", ...}`. It migrates the database
of ANYMASK_VAR_DIR (or DATABASE_URL), else of a throwaway var dir, and needs
SECRET_KEY set as for the server.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_server import wait_ready  # noqa: E402
from bench.browser_clicks import CHROMIUM, CHROMIUM_ARGS, open_page  # noqa: E402

REDUCED = "reduced SAM 3: tiny_sam3_config(1008), 2-layer 32-wide ViT at the real 1008-px input"
USERNAME, PHRASE = "bench", "tree"

# Submit a phrase in the Find box; resolve when the panel shows results (or an
# error), one animation frame later, with the time taken and what is shown.
QUERY = """async (phrase) => {
  const panel = document.getElementById("find");
  document.getElementById("find-threshold").value = "0";
  document.getElementById("find-phrase").value = phrase;
  const done = new Promise((resolve) => {
    const watch = new MutationObserver(() => {
      if (panel.dataset.state === "results" || panel.dataset.state === "error") {
        watch.disconnect();
        requestAnimationFrame(() => resolve());
      }
    });
    watch.observe(panel, { attributes: true, attributeFilter: ["data-state"] });
  });
  const start = performance.now();
  document.getElementById("find-form").requestSubmit();
  await done;
  return { ms: performance.now() - start, state: panel.dataset.state,
    shown: Number(panel.dataset.shown), error: panel.dataset.error || null };
}"""


def prepare(args: argparse.Namespace) -> None:
    """Untimed, in its own process: the reduced SAM 3, a tiny click model, a user and
    a project with concept prompts on, one 1024x768 image with its embedding ready;
    prints the SAM 3 directory and the label page's path."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labeling.settings")
    import io

    import django

    django.setup()
    from django.contrib.auth.models import User
    from PIL import Image as PILImage

    from inference import load_model
    from inference.concepts.testing import save_tiny_sam3
    from inference.testing import save_tiny_sam, synthetic_image
    from labeling import embedding_store
    from labeling.models import Category, EmbeddingStatus, Image, Project
    from labeling.services.projects import do_create_project
    from labeling.services.uploads import do_add_image

    models = Path(args.model_dir)
    sam3, sam = models / "sam3-reduced-1008", models / "tiny-sam"
    if not (sam3 / "model.safetensors").exists():
        save_tiny_sam3(sam3, image_size=1008)
    if not (sam / "model.safetensors").exists():
        save_tiny_sam(sam)  # the click model is not what is timed: the page needs one
    user = User.objects.filter(username=USERNAME).first()
    if user is None:
        user = User.objects.create_user(USERNAME, password=args.password)
    project = do_create_project(user, name="concepts_socket bench")
    Project.objects.filter(pk=project.pk).update(
        model_spec=str(sam.resolve()), concepts_enabled=True
    )
    Category.objects.create(project=project, name=PHRASE, color="#1fbf5b", order=1)
    project.refresh_from_db()
    out = io.BytesIO()
    PILImage.fromarray(synthetic_image(768, 1024)).save(out, format="PNG")
    out.seek(0)
    image = do_add_image(project, user, out, "bench.png")
    image.refresh_from_db()
    embedding_store.compute(load_model(str(sam.resolve())), image)
    Image.objects.filter(pk=image.pk).update(embedding_status=EmbeddingStatus.READY)
    print(sam3.resolve())
    print(f"/projects/{project.pk}/images/{image.pk}/label/")


def query(page: Any, phrase: str) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(QUERY, phrase)
    if result["state"] != "results":
        raise SystemExit(f"the query for {phrase!r} failed: {result}")
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "prepare", "--model-dir", args.model_dir]
    prepared = subprocess.run(  # noqa: S603 - our interpreter, our script
        command,
        env={**os.environ, "BENCH_PASSWORD": args.password},
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    sam3, path = prepared.stdout.strip().splitlines()[-2:]
    base = f"http://127.0.0.1:{args.port}"
    log = Path(os.environ.get("ANYMASK_VAR_DIR", ROOT / "var")) / "concepts_socket-server.log"
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "serve", "--port", str(args.port)],
        cwd=ROOT,
        env={**os.environ, "ANYMASK_CONCEPT_MODEL": sam3},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(base, server, args.timeout)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page, errors = open_page(browser, base, path, args, {})
                page.wait_for_function("() => document.getElementById('find-form') !== null")
                first = query(page, PHRASE)
                cached = [query(page, PHRASE) for _ in range(args.iters)]
                fresh = [query(page, word) for word in args.words[: args.iters]]
                if errors:
                    raise SystemExit(f"the page threw: {errors[:3]}")
            finally:
                browser.close()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    return {
        "bench": "concepts_socket",
        "model": REDUCED,
        "image": "1024x768",
        "first_query_ms": round(first["ms"], 1),
        "cached_query_p50_ms": round(statistics.median(r["ms"] for r in cached), 1),
        "new_phrase_p50_ms": round(statistics.median(r["ms"] for r in fresh), 1),
        "instances_shown": first["shown"],
        "iters": args.iters,
    }


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8768)
    parser.add_argument("--password", default=os.environ.get("BENCH_PASSWORD", "bench-pw-0"))
    parser.add_argument("--model-dir", default=str(ROOT / "var/bench-models"))
    parser.add_argument("--timeout", type=float, default=600.0)


def socket_bench(args: argparse.Namespace) -> dict[str, Any]:
    """The whole run for `bench/concepts.py --socket`: a throwaway var dir (unless
    ANYMASK_VAR_DIR or DATABASE_URL names one), migrated, then `run`."""
    from inference.concepts.testing import WORDS

    args.username, args.words = USERNAME, WORDS[5:]
    if not (os.environ.get("ANYMASK_VAR_DIR") or os.environ.get("DATABASE_URL")):
        os.environ["ANYMASK_VAR_DIR"] = tempfile.mkdtemp(prefix="bench-concepts-socket-")
    migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
    subprocess.run(migrate, check=True, cwd=ROOT)  # noqa: S603 - our interpreter
    started = time.monotonic()
    result = run(args)
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=["run", "prepare"], default="run")
    parser.add_argument("--iters", type=int, default=5)
    options(parser)
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args)
    else:
        print(json.dumps(socket_bench(args)))


if __name__ == "__main__":
    main()
