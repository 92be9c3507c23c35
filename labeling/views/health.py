"""Probes for a process supervisor or load balancer, without a login.

`/healthz`: the process answers and reaches its database. `/readyz`: it has also
finished warming its models (labeling/realtime/warm_start.py), so a first click is
answered as fast as the next; 503 until then. Both answer figures, never names.
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from labeling.realtime import warm_start


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return False
    return True


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    ok = _database_ok()
    return JsonResponse({"ok": ok}, status=200 if ok else 503)


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    warm = warm_start.state()
    ready = warm["ready"] and _database_ok()
    return JsonResponse({"ready": ready, "models": warm["models"]}, status=200 if ready else 503)
