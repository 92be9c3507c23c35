"""A request budget per token owner, so one runaway script cannot starve the others.

A fixed window counted with the cache's atomic `incr` (Redis when REDIS_URL is set,
so every web process shares one budget; the process's memory otherwise). Over the
budget a call gets 429 with Retry-After: the seconds until the window turns.

Not django-ninja's own throttles: they keep each request's state on the one throttle
object every thread shares, and read-modify-write a list of timestamps, so
concurrent requests can overwrite each other's counts.
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from ninja.throttling import BaseThrottle

logger = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def budget() -> tuple[int, int] | None:
    """(requests, seconds) from ANYMASK_API_RATE (checked by the settings), or None."""
    rate = settings.ANYMASK_API_RATE
    if not rate:
        return None
    count, period = rate.split("/")
    return int(count), PERIODS[period]


def budget_key(user_id: int, seconds: int, now: float) -> str:
    return f"api-budget:{user_id}:{seconds}:{int(now // seconds)}"


class TokenOwnerRate(BaseThrottle):
    def allow_request(self, request: HttpRequest) -> bool:
        limit = budget()
        user = getattr(request, "auth", None)
        if limit is None or user is None:
            return True
        count, seconds = limit
        key = budget_key(user.pk, seconds, time.time())
        try:
            cache.add(key, 0, timeout=seconds + 1)
            used = cache.incr(key)
        except Exception:  # the cache is down or the window just expired: let it through
            logger.warning("API budget not counted for user %s", user.pk, exc_info=True)
            return True
        return bool(used <= count)

    def wait(self) -> float | None:
        # From the clock alone: this object is shared by every request and thread.
        limit = budget()
        if limit is None:
            return None
        seconds = limit[1]
        return seconds - time.time() % seconds
