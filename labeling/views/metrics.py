"""`/metrics` for a Prometheus scraper (labeling/metrics.py), without a login.

With ANYMASK_METRICS_TOKEN set, only `Authorization: Bearer <token>` gets the
figures; without it, only a client on this host (loopback). The figures say how
busy the service is, which is not for everyone who can reach the site.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

LOOPBACK = {"127.0.0.1", "::1"}


def _allowed(request: HttpRequest) -> bool:
    token = settings.ANYMASK_METRICS_TOKEN
    if not token:
        return request.META.get("REMOTE_ADDR") in LOOPBACK
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    from labeling import metrics

    return HttpResponse(metrics.exposition(), content_type="text/plain; version=0.0.4")
