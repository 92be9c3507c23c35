"""The labeling socket's per-message access check, with and without the pool.

Every prompt on `ws/images/<id>/` re-checks access (labeling/realtime/access.py: one
fingerprint query) in Channels' database thread, which closes the connection after
each call because CONN_MAX_AGE is 0. Without a pool that means a fresh PostgreSQL
connection per message (the baseline, as before the pool); with ANYMASK_DB_POOL_SIZE
the connection goes back to the pool and the next message borrows it.

Both run here, in alternating rounds in child processes (the only difference is
ANYMASK_DB_POOL_SIZE=0 or not), on the same rows, so both see the same load.

    DATABASE_URL=postgres://... SECRET_KEY=... .venv/bin/python bench/access_check.py \\
        [--checks 300 --rounds 4]

Needs PostgreSQL (SQLite has no connections to pool). It migrates the database,
adds a user, a project, an image and a session, and deletes them at the end.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labeling.settings")


def child(checks: int, session_key: str, user_id: int, image_id: int) -> None:
    """Time `checks` access checks the way the socket makes them; print ms each."""
    import django

    django.setup()
    from channels.db import database_sync_to_async

    from labeling.realtime.access import AccessCheck

    check = AccessCheck(session_key, user_id, image_id)

    async def run() -> list[float]:
        await database_sync_to_async(check)()  # the full check once, then fingerprints
        times = []
        for _ in range(checks):
            started = time.perf_counter()
            await database_sync_to_async(check)()
            times.append((time.perf_counter() - started) * 1000)
        return times

    print(json.dumps(asyncio.run(run())))


def prepare() -> tuple[str, int, int, Any]:
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("bench/access_check.py needs DATABASE_URL=postgres://...")
    call_command("migrate", verbosity=0)
    from labeling.models import Image, Membership, Project, Role

    stamp = f"{os.getpid()}-{time.time_ns()}"
    user = User.objects.create_user(f"bench-access-{stamp}", password=None)
    project = Project.objects.create(name=f"bench access {stamp}", created_by=user)
    Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
    image = Image.objects.create(
        project=project, file="bench.png", original_name="bench.png", format="PNG",
        width=10, height=10, sha256=f"{time.time_ns():064x}"[-64:], byte_size=1,
    )  # fmt: skip
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    assert session.session_key is not None

    def cleanup() -> None:
        image.delete()
        project.delete()
        session.delete()
        user.delete()

    return session.session_key, user.pk, image.pk, cleanup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--child", nargs=3, metavar=("SESSION", "USER", "IMAGE"))
    args = parser.parse_args()
    if args.child:
        session_key, user_id, image_id = args.child
        child(args.checks, session_key, int(user_id), int(image_id))
        return
    session_key, user_id, image_id, cleanup = prepare()
    samples: dict[str, list[float]] = {"plain": [], "pooled": []}
    try:
        for _ in range(args.rounds):
            for mode, pool_size in (
                ("plain", "0"),
                ("pooled", os.environ.get("ANYMASK_DB_POOL_SIZE", "10")),
            ):
                env = {**os.environ, "ANYMASK_DB_POOL_SIZE": pool_size}
                result = subprocess.run(  # noqa: S603 - our own script
                    [sys.executable, __file__, "--checks", str(args.checks),
                     "--child", session_key, str(user_id), str(image_id)],
                    env=env, capture_output=True, text=True, check=True, timeout=600,
                )  # fmt: skip
                samples[mode].extend(json.loads(result.stdout.strip().splitlines()[-1]))
    finally:
        cleanup()

    def p(mode: str, q: int) -> float:
        return round(statistics.quantiles(samples[mode], n=100)[q - 1], 3)

    plain, pooled = p("plain", 50), p("pooled", 50)
    print(
        json.dumps(
            {
                "bench": "access_check",
                "checks": len(samples["pooled"]),
                "plain_p50_ms": plain,
                "plain_p95_ms": p("plain", 95),
                "pooled_p50_ms": pooled,
                "pooled_p95_ms": p("pooled", 95),
                "speedup_p50": round(plain / pooled, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
