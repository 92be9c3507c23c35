"""A request budget per token owner, so one runaway script cannot starve the others.

django-ninja's per-user throttle keeps each user's recent request times in Django's
cache (Redis when REDIS_URL is set, so every web process shares one budget; the
process's memory otherwise). Over the budget, a call gets 429 with Retry-After.
"""

from django.conf import settings
from django.http import HttpRequest
from ninja.throttling import UserRateThrottle


class TokenOwnerRate(UserRateThrottle):
    scope = "api"

    def __init__(self) -> None:
        super().__init__(rate=settings.ANYMASK_API_RATE or "1/s")

    def allow_request(self, request: HttpRequest) -> bool:
        # Read per request, so the limit follows the settings (and can be off).
        rate = settings.ANYMASK_API_RATE
        if not rate:
            return True
        self.rate = rate
        self.num_requests, self.duration = self.parse_rate(rate)
        return super().allow_request(request)
