"""Personal API tokens: make one (shown once, with a lifetime), find its user, revoke
it."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from labeling.models import ApiToken
from labeling.services.errors import ServiceError

PREFIX = "am_"
MAX_TOKENS_PER_USER = 20
# `last_used_at` is written at most this often, so a busy script does not turn every
# request into a write.
TOUCH_EVERY = timedelta(minutes=1)
# How long a new token lives, by the form's choice. Tokens expire by default, so a
# forgotten one in an old script stops working on its own; "never" is a choice made
# on purpose.
LIFETIMES: dict[str, timedelta | None] = {
    "30": timedelta(days=30),
    "90": timedelta(days=90),
    "365": timedelta(days=365),
    "never": None,
}
DEFAULT_LIFETIME = "90"


def _unexpired(now: datetime) -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def do_create_token(
    user: User, name: str, lifetime: str = DEFAULT_LIFETIME
) -> tuple[ApiToken, str]:
    """A new token for `user`, living for one of LIFETIMES; returns the row and the
    token, which is never stored."""
    if lifetime not in LIFETIMES:
        raise ServiceError("Choose how long the token lives: 30, 90 or 365 days, or never.")
    name = name.strip()
    if not name:
        raise ServiceError("Give the token a name, such as the script that will use it.")
    if len(name) > 100:
        raise ServiceError("Keep the name under 100 characters.")
    # Locking the user row makes the count below exact under concurrent requests.
    User.objects.select_for_update().filter(pk=user.pk).first()
    # Expired tokens open nothing, so they do not count against the limit.
    live = ApiToken.objects.filter(_unexpired(timezone.now()), user=user)
    if live.count() >= MAX_TOKENS_PER_USER:
        raise ServiceError(f"You already have {MAX_TOKENS_PER_USER} tokens; revoke one first.")
    token = PREFIX + secrets.token_urlsafe(32)
    life = LIFETIMES[lifetime]
    row = ApiToken.objects.create(
        user=user,
        name=name,
        key_hash=_digest(token),
        prefix=token[: len(PREFIX) + 6],
        expires_at=timezone.now() + life if life else None,
    )
    return row, token


def do_revoke_token(user: User, token_id: int) -> None:
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    if not deleted:
        raise ServiceError("No such token; it may have been revoked already.")


def user_for_token(token: str) -> User | None:
    """The active user a token belongs to, or None. Tokens are looked up by digest:
    they carry 256 random bits, so the lookup reveals nothing a guess could use."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    now = timezone.now()
    row = (
        ApiToken.objects.select_related("user")
        .filter(_unexpired(now), key_hash=_digest(token), user__is_active=True)
        .first()
    )
    if row is None:
        return None
    if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.user
