"""What the sockets' access guard costs: one recheck, on the configured database.

Every open socket runs its access check once a second (and before every push), in
Channels' database thread. This measures that check as the guard runs it (nothing
changed since the last one: one indexed query) and the full check it falls back to
when something did change, for both sockets. It writes a user, project, image and
session inside a transaction and rolls it all back.

    SECRET_KEY=... DATABASE_URL=postgres://... .venv/bin/python bench/ws_access_check.py

Prints one JSON line: medians and 95th percentiles in microseconds.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def timed(call: Callable[[], Any], repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    return {
        "median_us": round(statistics.median(samples), 1),
        "p95_us": round(samples[int(len(samples) * 0.95)], 1),
    }


def main() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labeling.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.test import Client

    from labeling.models import Image, Membership, Project, Role
    from labeling.realtime.access import AccessCheck, PageAccessCheck

    repeat = int(os.environ.get("REPEAT", "2000"))
    with transaction.atomic():
        user = User.objects.create_user("bench-guard", password="x" * 20)
        project = Project.objects.create(name="bench guard", created_by=user)
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
        image = Image.objects.create(
            project=project, file="b.png", original_name="b.png", format="PNG",
            width=10, height=10, sha256="b" * 64, byte_size=1,
        )  # fmt: skip
        client = Client()
        client.force_login(user)
        key = client.cookies["sessionid"].value
        image_check = AccessCheck(key, user.pk, image.pk)
        page_check = PageAccessCheck(key, user.pk, project.pk)
        image_check()
        page_check()
        result = {
            "bench": "ws_access_check",
            "database": connection.vendor,
            "image_recheck": timed(image_check, repeat),
            "page_recheck": timed(page_check, repeat),
            "image_full_check": timed(lambda: image_check(fresh=True), repeat // 4),
        }
        transaction.set_rollback(True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
