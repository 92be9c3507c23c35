"""What the benchmarks on a real server share: the untimed set-up (a user, a
project on full-size SAM ViT-B with random weights, one 1024x768 image) and a
`manage.py serve` process started, waited for and stopped.

The set-up needs Django and runs in the benchmark's `prepare` sub-command, in a
process of its own (`run_prepare`), so that the timed process never loads the
app's models or the database before the server does.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Where `make bench-*` keeps the random full-size model between runs.
MODEL_DIR = ROOT / "var/bench-models/sam-vit-base-coherent"


def prepare_image(
    model_dir: str, username: str, password: str, project_name: str, *, embed: bool
) -> tuple[int, int]:
    """Create (or reuse) the user, a project on the model in `model_dir` (made there
    first if missing) and one image; with `embed`, compute and store the image's
    embedding here, else leave it queued for the server's worker. Returns
    (project id, image id)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labeling.settings")
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

    directory = Path(model_dir)
    if not (directory / "model.safetensors").exists():
        # Blob-shaped masks of a real mask's RLE size, not noise.
        save_random_model("sam-vit-base", directory, coherent=True)
    spec = str(directory.resolve())
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User.objects.create_user(username, password=password)
    project = do_create_project(user, name=project_name)
    project.model_spec = spec  # set directly: the operator runs this, not a form
    project.save()
    out = io.BytesIO()
    PILImage.fromarray(synthetic_image(768, 1024)).save(out, format="PNG")
    out.seek(0)
    image = do_add_image(project, user, out, "bench.png")
    if embed:
        image.refresh_from_db()
        embedding_store.compute(load_model(spec), image)
        Image.objects.filter(pk=image.pk).update(embedding_status=EmbeddingStatus.READY)
    return project.pk, image.pk


def run_prepare(script: str, model_dir: str, username: str, password: str) -> str:
    """Run `script prepare` in its own process; the last line it prints."""
    command = [sys.executable, script, "prepare", "--model-dir", model_dir]
    command += ["--username", username]
    prepared = subprocess.run(  # noqa: S603 - our interpreter, our script
        command,
        env={**os.environ, "BENCH_PASSWORD": password},
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return prepared.stdout.strip().splitlines()[-1]


def server_log(name: str) -> Path:
    """Where a benchmark's server writes its output (the run's var dir)."""
    return Path(os.environ.get("ANYMASK_VAR_DIR", ROOT / "var")) / name


@contextmanager
def serve(
    port: int, log: Path, *options: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A real `manage.py serve` on loopback `port` (with `options`), its output in
    `log`; stopped with SIGTERM (killed after 30 s) when the block ends."""
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "serve", *options, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        yield server
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """Poll `/readyz` until it answers 200 (the server has warmed its models); its body."""
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
