"""Site-wide files browsers ask for by a fixed path, outside the static URL."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.views.decorators.http import require_GET


@require_GET
def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """`/favicon.ico`, which browsers fetch on their own: the static icon (its URL
    worked out per request, so a hashed name in production is followed too)."""
    return HttpResponseRedirect(static("favicon.ico"))
