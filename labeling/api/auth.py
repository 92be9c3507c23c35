"""Bearer-token authentication for the API (tokens: labeling/services/tokens.py)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from ninja.security import HttpBearer

from labeling.services.tokens import user_for_token


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = user_for_token(token)
        if user is not None:
            # Services and permission checks read `request.user`, as in the views.
            request.user = user
        return user


def user_of(request: HttpRequest) -> User:
    """The token's user (the API's auth has run before any operation)."""
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user
