"""Serving a stored file under ASGI: our streamed response against Django's FileResponse.

Django's ASGI handler sends a streaming response by iterating `aiter(response)`. A
FileResponse is a synchronous iterator, so that falls back to reading the whole
file into a list first (Django warns that it does); `StoredFileResponse`
(labeling/storage/serving.py) reads block by block in a thread as the client takes
them. Both are consumed here exactly as the handler does, over the same stored
file, on the filesystem or (`--s3`) on a SeaweedFS server started for the run.
Peak Python memory (tracemalloc) and seconds per download, median of the rounds.

    SECRET_KEY=... .venv/bin/python bench/stored_download.py [--mib 64 --rounds 3 --s3]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labeling.settings")


async def consume(response: Any) -> int:
    """What django.core.handlers.asgi.ASGIHandler.send_response does with the body."""
    sent = 0
    async for part in aiter(response):
        sent += len(part)
    response.close()
    return sent


def measure(make: Any, size: int) -> tuple[float, float]:
    tracemalloc.start()
    started = time.perf_counter()
    sent = asyncio.run(consume(make()))
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert sent == size, (sent, size)
    return peak / 2**20, seconds


def with_s3(argv: list[str]) -> None:
    """Run the measurement in a child whose settings name a bucket on a SeaweedFS
    server started here (settings read the environment once, at import)."""
    import subprocess

    import django

    django.setup()
    from tests.own_s3 import OwnS3

    root = Path(tempfile.mkdtemp(prefix="anymask-bench-s3-"))
    server = OwnS3(root)
    server.start()
    try:
        env = {**os.environ, **server.env(server.new_bucket())}
        command = [sys.executable, __file__, *[a for a in argv if a != "--s3"], "--on-s3"]
        subprocess.run(command, env=env, check=True)  # noqa: S603
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--s3", action="store_true", help="store on a SeaweedFS server")
    parser.add_argument("--on-s3", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.s3:
        with_s3(sys.argv[1:])
        return
    work = Path(tempfile.mkdtemp(prefix="anymask-bench-download-"))
    os.environ.setdefault("ANYMASK_VAR_DIR", str(work))
    os.environ["ANYMASK_MEDIA_ROOT"] = str(work / "media")
    import django

    django.setup()
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.http import FileResponse

    from labeling.storage import open_stream
    from labeling.storage.serving import stored_file_response

    size = args.mib * 2**20
    name = default_storage.save("exports/bench/export.zip", ContentFile(os.urandom(size)))

    def ours() -> Any:
        return stored_file_response(name, None, as_attachment=True, filename="export.zip")

    def djangos() -> Any:  # the views before: FileResponse over storage.open()
        return FileResponse(default_storage.open(name, "rb"), as_attachment=True)

    results: dict[str, list[tuple[float, float]]] = {"ours": [], "django": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Django's "must consume synchronous iterators"
        for _ in range(args.rounds):
            results["ours"].append(measure(ours, size))
            results["django"].append(measure(djangos, size))
    with open_stream(name) as check:
        assert check.size == size
    default_storage.delete(name)
    shutil.rmtree(work, ignore_errors=True)

    def median(variant: str, index: int) -> float:
        return statistics.median(r[index] for r in results[variant])

    ours_mib, django_mib = median("ours", 0), median("django", 0)
    ours_s, django_s = median("ours", 1), median("django", 1)
    print(
        json.dumps(
            {
                "bench": "stored_download",
                "backend": "s3" if args.on_s3 else "filesystem",
                "file_mib": args.mib,
                "rounds": args.rounds,
                "peak_mib_streamed": round(ours_mib, 2),
                "peak_mib_django_file_response": round(django_mib, 2),
                "peak_memory_ratio": round(ours_mib / django_mib, 4),
                "seconds_streamed": round(ours_s, 3),
                "seconds_django_file_response": round(django_s, 3),
                "time_ratio": round(ours_s / django_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
