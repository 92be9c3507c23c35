"""The project page at scale: page plus status feed, 20 images against 20,000.

    .venv/bin/python bench/grid.py [--large 20000 --rounds 15]

Builds a throwaway database (SQLite in a temporary directory, or `DATABASE_URL` if
set: then it migrates that database and deletes its rows at the end) with two
projects, one of `--small` images and one of `--large` (rows only, no pixels:
the grid reads rows, and thumbnails are separate requests the browser makes
lazily), with mixed labeling and embedding statuses and some live claims. Each
round fetches, as a logged-in member with Django's test client (the whole
middleware and template stack, no network), the project page and then its status
feed, the two requests that opening the page costs; the figure is the median
round. A page shows up to 120 tiles, so the large project renders six times the
tiles of the small one; `large_per20_ms` is the large project at 20 per page, the
cost of its size alone. It also times the large project with a filter and a sort on.

Prints one JSON line: {"bench": "grid", "small_ms": ..., "large_ms": ...,
"large_per20_ms": ..., "large_filtered_ms": ..., "large_images": 20000, "rounds": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def setup_django(var_dir: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labeling.settings")
    os.environ["ANYMASK_VAR_DIR"] = var_dir
    os.environ.setdefault("SECRET_KEY", "bench-grid-" + "x" * 50)
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test client's "testserver" host in


def build(name: str, images: int, user: Any) -> Any:
    """A project of `images` rows with a realistic spread of statuses."""
    from django.utils import timezone

    from labeling.models import Image, Membership, Project, Role

    project = Project.objects.create(name=name, created_by=user)
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    labeling = ["unlabeled"] * 6 + ["in_progress", "submitted", "approved", "rejected"]
    embedding = ["ready"] * 7 + ["pending", "running", "failed"]
    now = timezone.now()
    Image.objects.bulk_create(
        (
            Image(
                project=project, file=f"bench/{i}.jpg", original_name=f"{i:05d}.jpg",
                format="JPEG", width=1024, height=768, sha256=f"{i:064x}", byte_size=1,
                labeling_status=labeling[i % 10], embedding_status=embedding[(i // 3) % 10],
                claimed_by=user if i % 50 == 0 else None,
                claimed_at=now if i % 50 == 0 else None,
            )
            for i in range(images)
        ),
        batch_size=2000,
    )  # fmt: skip
    return project


def time_open(client: Any, project_id: int, rounds: int, query: str = "") -> float:
    """Median ms of one page load plus one status-feed fetch."""
    from django.urls import reverse

    page_url = reverse("project-detail", args=[project_id]) + query
    status_url = reverse("project-status", args=[project_id]) + query
    times = []
    for i in range(rounds + 2):
        started = time.perf_counter()
        page = client.get(page_url)
        status = client.get(status_url)
        took = (time.perf_counter() - started) * 1000
        if page.status_code != 200 or status.status_code != 200:
            raise SystemExit(f"{page_url}: {page.status_code}, feed {status.status_code}")
        if i >= 2:  # the first two warm the template and query caches
            times.append(took)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=20)
    parser.add_argument("--large", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="anymask-bench-grid-") as var_dir:
        setup_django(var_dir)
        from django.contrib.auth.models import User
        from django.core.management import call_command
        from django.test import Client

        call_command("migrate", verbosity=0)
        user = User.objects.create_user(f"bench-grid-{os.getpid()}")
        try:
            small = build("grid bench small", args.small, user)
            large = build("grid bench large", args.large, user)
            if os.environ.get("DATABASE_URL", "").startswith("postgres"):
                from django.db import connection

                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE labeling_image")
            client = Client()
            client.force_login(user)
            result = {
                "bench": "grid",
                "small_ms": round(time_open(client, small.pk, args.rounds), 1),
                "large_ms": round(time_open(client, large.pk, args.rounds), 1),
                # The same 20 tiles the small project shows: what the project's size
                # alone costs, apart from rendering more tiles per page.
                "large_per20_ms": round(time_open(client, large.pk, args.rounds, "?per=20"), 1),
                "large_filtered_ms": round(
                    time_open(client, large.pk, args.rounds, "?labeling=submitted&sort=name"), 1
                ),
                "small_images": args.small,
                "large_images": args.large,
                "rounds": args.rounds,
            }
        finally:
            from labeling.models import Project

            Project.objects.filter(created_by=user).delete()
            user.delete()
        print(json.dumps(result))


if __name__ == "__main__":
    main()
