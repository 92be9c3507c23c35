"""Probes for a process supervisor or load balancer, without a login.

`/healthz`: the process answers and reaches its database. `/readyz`: it also reaches
Redis (when configured), can write, read back and delete a tiny object through the
media storage (the filesystem or S3; a success is trusted for
ANYMASK_READYZ_STORAGE_SECONDS), and has finished warming its models
(labeling/realtime/warm_start.py), so a first click is answered as fast as the
next; 503 until then. Both answer figures and check names, never hosts or errors.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from labeling.realtime import warm_start

logger = logging.getLogger(__name__)

PROBE_PREFIX = "readyz"
PROBE_BYTES = b"anymask readiness probe\n"


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return False
    return True


def _redis_ok() -> bool:
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
        )
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception as error:
        logger.warning("readyz: redis unreachable (%s)", type(error).__name__)
        return False


# When this process's last storage round trip succeeded (monotonic), and a lock so
# that probes arriving together make one round trip between them.
_storage_verified_at: float | None = None
_storage_lock = threading.Lock()


def _storage_ok() -> bool:
    """The media storage works: a round trip that succeeded in the last
    ANYMASK_READYZ_STORAGE_SECONDS, or a new one (a failure is never remembered)."""
    global _storage_verified_at
    with _storage_lock:
        fresh = settings.ANYMASK_READYZ_STORAGE_SECONDS
        verified = _storage_verified_at
        if fresh and verified is not None and time.monotonic() - verified < fresh:
            return True
        ok = _storage_round_trip()
        _storage_verified_at = time.monotonic() if ok else None
        return ok


def _storage_round_trip() -> bool:
    """A round trip through the media storage, under a fresh name each time (two
    processes probing at once must not delete each other's object)."""
    name = f"{PROBE_PREFIX}/{secrets.token_hex(8)}.txt"
    saved: str | None = None
    try:
        saved = default_storage.save(name, ContentFile(PROBE_BYTES))
        with default_storage.open(saved, "rb") as stored:
            ok = stored.read() == PROBE_BYTES
        return ok
    except Exception as error:
        logger.warning("readyz: media storage failed (%s)", type(error).__name__)
        return False
    finally:
        if saved is not None:
            try:
                default_storage.delete(saved)
            except Exception as error:
                logger.warning("readyz: probe not deleted (%s)", type(error).__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    ok = _database_ok()
    return JsonResponse({"ok": ok}, status=200 if ok else 503)


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    warm = warm_start.state()
    checks = {"database": _database_ok(), "storage": _storage_ok(), "models": warm["ready"]}
    if settings.REDIS_URL:
        checks["redis"] = _redis_ok()
    ready = all(checks.values())
    return JsonResponse(
        {"ready": ready, "checks": checks, "models": warm["models"]},
        status=200 if ready else 503,
    )
