"""Thin HTTP views: parse the request, call `permissions` and `services`, render."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse


class AuthedRequest(HttpRequest):
    """A request behind @login_required: `user` is a real, logged-in user."""

    user: User


def login_required_json(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like @login_required, but for endpoints called by page scripts: answer 401 JSON
    instead of redirecting, so an expired session shows as such, not as a login page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return JsonResponse(
                {"error": "Your session has expired. Log in again, then retry."}, status=401
            )
        return view(request, *args, **kwargs)

    return wrapper
