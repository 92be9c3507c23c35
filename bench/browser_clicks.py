"""Click to painted mask in a real browser: the labeling page's own share of a click.

Prepares (in a subprocess, untimed) a user, a project on full-size SAM ViT-B with
random weights and one 1024x768 image whose embedding is computed and stored; starts
a real `manage.py serve` (web server and embedded worker); then headless Chromium
(Debian's, through playwright) logs in, opens the image's labeling page and clicks
`--clicks` different points, one at a time, pressing Esc after each reply so every
click is a fresh single-point prompt.

The page times itself (static/js/label/perf.js, read from window.__anymaskPerf):
`click_to_reply` is pointer-down to the `masks` frame arriving, `reply_to_painted`
the frame arriving to the canvas draw that shows the candidate returning.

The naive baseline is the page as it was before the fast paint path (its static/js
at BASELINE_REF, served by playwright in place of the current files), clicked at the
same points in the same run. Neither version is asked to time itself for that
comparison: an init script wraps the socket's message handlers and times each
`masks` frame's handler from entry to return (parsing, decoding, rasterising and the
synchronous canvas draw), the same way for both. `paint_speedup` is the baseline's
p50 over the current page's.

    .venv/bin/python bench/browser_clicks.py [--port 8767] [--clicks 60]

Prints one JSON line. Run it through `make bench-browser`, which gives it a throwaway
var dir and key.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import bench_server  # noqa: E402

# The last commit whose labeling page decoded every candidate at full size and
# painted the whole image extent per pixel: the naive baseline.
BASELINE_REF = "c5e6ebb3c1c9b6cdb22aec975c10d80e1b9b495f"
CHROMIUM = os.environ.get("ANYMASK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WARM_UP_CLICKS = 5
MARGIN = 16  # the page's fit-to-screen margin (viewer.js)

# Times every `masks` frame's handler on every socket of the page, for either version
# of the page: from the handler's entry to its return, which includes the paint
# because both versions draw the canvas synchronously in it.
HARNESS = """(() => {
  const rec = { handled: [] };
  window.__benchHarness = rec;
  const add = WebSocket.prototype.addEventListener;
  WebSocket.prototype.addEventListener = function (type, listener, options) {
    if (type !== "message") return add.call(this, type, listener, options);
    const timed = function (event) {
      const start = performance.now();
      const out = listener.call(this, event);
      const end = performance.now();
      const message = JSON.parse(event.data); // after timing: not the page's work
      if (message.type === "masks") rec.handled.push({ seq: message.seq, start, end });
      return out;
    };
    return add.call(this, type, timed, options);
  };
})();"""


def prepare(args: argparse.Namespace) -> None:
    """Untimed setup, in its own process: prints the label page's path."""
    project, image = bench_server.prepare_image(
        args.model_dir, args.username, args.password, "browser_clicks bench", embed=True
    )
    print(f"/projects/{project}/images/{image}/label/")


def baseline_files(ref: str) -> dict[str, str]:
    """static/js at `ref`, by path under static/js/ (empty if git or the ref is missing)."""
    try:
        listing = subprocess.run(  # noqa: S603 - fixed git arguments
            ["git", "-C", str(ROOT), "ls-tree", "-r", "--name-only", ref, "static/js"],  # noqa: S607
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        return {
            path.removeprefix("static/js/"): subprocess.run(  # noqa: S603
                ["git", "-C", str(ROOT), "show", f"{ref}:{path}"],  # noqa: S607
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            for path in listing
            if path.endswith(".js")
        }
    except (OSError, subprocess.CalledProcessError):
        return {}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 2)


def log_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"^(?!.*/accounts/login/).*$"))


def open_page(
    browser: Any, base: str, path: str, args: argparse.Namespace, js: dict[str, str]
) -> tuple[Any, list[str]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(120_000)
    context.add_init_script(HARNESS)
    if js:

        def serve_old(route: Any) -> None:
            name = route.request.url.split("/static/js/", 1)[1].split("?", 1)[0]
            if name in js:
                route.fulfill(body=js[name], content_type="text/javascript; charset=utf-8")
            else:
                route.fulfill(status=404, body="not in the baseline")

        context.route(re.compile(r".*/static/js/.*"), serve_old)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, base, args.username, args.password)
    page.goto(base + path)
    page.wait_for_function(
        "() => { const a = document.getElementById('label-app');"
        " return a.dataset.ready === 'true' && a.dataset.imageLoaded === 'true'"
        " && a.dataset.connection === 'open'"
        " && document.getElementById('embedding-status').dataset.state === 'ready'; }"
    )
    return page, errors


def click_points(page: Any, points: list[tuple[float, float]]) -> None:
    """Click each image point, wait for its `masks` reply to be handled, then Esc."""
    box = page.locator("#canvas").bounding_box()
    width, height = page.evaluate(
        "() => [Number(document.getElementById('label-app').dataset.width),"
        " Number(document.getElementById('label-app').dataset.height)]"
    )
    scale = min((box["width"] - 2 * MARGIN) / width, (box["height"] - 2 * MARGIN) / height)
    ox = (box["width"] - width * scale) / 2
    oy = (box["height"] - height * scale) / 2
    for x, y in points:
        handled = page.evaluate("() => window.__benchHarness.handled.length")
        page.mouse.click(box["x"] + ox + x * scale, box["y"] + oy + y * scale)
        page.wait_for_function(f"() => window.__benchHarness.handled.length > {handled}")
        page.keyboard.press("Escape")  # discard: the next click starts a fresh mask


def run_phase(
    browser: Any, base: str, path: str, args: argparse.Namespace, js: dict[str, str]
) -> dict[str, Any]:
    page, errors = open_page(browser, base, path, args, js)
    rng = random.Random(7)  # the same points for both versions of the page
    warm = [(rng.uniform(20, 1004), rng.uniform(20, 748)) for _ in range(WARM_UP_CLICKS)]
    click_points(page, warm)
    start = page.evaluate("() => window.__benchHarness.handled.length")
    perf_start = page.evaluate(
        "() => window.__anymaskPerf ? window.__anymaskPerf.entries().length : 0"
    )
    points = [(rng.uniform(20, 1004), rng.uniform(20, 748)) for _ in range(args.clicks)]
    click_points(page, points)
    handled = page.evaluate("() => window.__benchHarness.handled")[start:]
    perf = page.evaluate("() => window.__anymaskPerf ? window.__anymaskPerf.entries() : []")
    page.context.close()
    if errors:
        raise SystemExit(f"the page threw: {errors[:3]}")
    return {"handled": [h["end"] - h["start"] for h in handled], "perf": perf[perf_start:]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    path = bench_server.run_prepare(__file__, args.model_dir, args.username, args.password)
    base = f"http://127.0.0.1:{args.port}"
    with bench_server.serve(
        args.port, bench_server.server_log("browser_clicks-server.log")
    ) as server:
        old_js = baseline_files(args.baseline_ref) if args.baseline_ref else {}
        bench_server.wait_ready(base, server, args.timeout)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                current = run_phase(browser, base, path, args, {})
                baseline = run_phase(browser, base, path, args, old_js) if old_js else None
            finally:
                browser.close()
    return summarize(args, current, baseline)


def summarize(
    args: argparse.Namespace, current: dict[str, Any], baseline: dict[str, Any] | None
) -> dict[str, Any]:
    perf = current["perf"]
    to_reply = [e["reply"] - e["down"] for e in perf]
    to_painted = [e["painted"] - e["reply"] for e in perf]
    to_frame = [e["frame"] - e["reply"] for e in perf if e["frame"]]
    handler_now = current["handled"]
    handler_old = baseline["handled"] if baseline else []
    now_p50, old_p50 = percentile(handler_now, 50), percentile(handler_old, 50)
    return {
        "bench": "browser_clicks",
        "clicks": len(perf),
        "click_to_reply_p50_ms": percentile(to_reply, 50),
        "click_to_reply_p95_ms": percentile(to_reply, 95),
        "reply_to_painted_p50_ms": percentile(to_painted, 50),
        "reply_to_painted_p95_ms": percentile(to_painted, 95),
        "reply_to_frame_p50_ms": percentile(to_frame, 50),
        "painted_pixels_p50": percentile([float(e["pixels"]) for e in perf], 50),
        # The comparison, both versions timed the same way (the harness above).
        "handler_p50_ms": now_p50,
        "handler_p95_ms": percentile(handler_now, 95),
        "baseline_clicks": len(handler_old) if baseline else 0,
        "baseline_handler_p50_ms": old_p50,
        "baseline_handler_p95_ms": percentile(handler_old, 95),
        "paint_speedup": round(old_p50 / now_p50, 1) if old_p50 and now_p50 else None,
        "baseline_ref": args.baseline_ref[:12] if baseline else None,
        "mean_click_to_reply_ms": round(statistics.fmean(to_reply), 1) if to_reply else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=["run", "prepare"], default="run")
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--clicks", type=int, default=60)
    parser.add_argument("--username", default="bench")
    parser.add_argument("--password", default=os.environ.get("BENCH_PASSWORD", ""))
    parser.add_argument("--model-dir", default=str(bench_server.MODEL_DIR))
    parser.add_argument(
        "--baseline-ref", default=BASELINE_REF, help="git ref of the naive page ('' for none)"
    )
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    if not args.password:
        raise SystemExit("give --password or BENCH_PASSWORD (make bench-browser does)")
    if args.command == "prepare":
        prepare(args)
        return
    started = time.monotonic()
    result = run(args)
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
