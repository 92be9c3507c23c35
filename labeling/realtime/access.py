"""Who may use a labeling socket, checked again on every message.

The full check (`authorize`) is what an HTTP request with the socket's cookie would
get: the session row and its signature, the user and its session hash, the image,
and the membership. That is four queries and a few hundred microseconds of Python
per click; on a busy 2-core server it measured 5 ms at the median, in series with
every decode (bench/ws_clicks.py).

So a socket keeps the result of its last full check together with a fingerprint:
every column that check depends on (and that a prompt reads), taken by one query
*before* the full check ran. The next message re-reads the fingerprint in one query.
Equal values mean a full check would read exactly what it read last time, so its
answer stands; any difference (a logout deletes or rewrites the session row, a
password change or deactivation changes the user row, a role change or removal
changes the membership, an expired session drops out of the query) runs the full
check again. Taking the fingerprint first means a change racing with a full check
can only cause one more full check, never a stale answer.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.utils import timezone

from labeling.models import Image, Membership, Project
from labeling.permissions import Ability, Access, ProjectNotFound, project_access

DB_SESSIONS = "django.contrib.sessions.backends.db"


class Forbidden(Exception):
    """Access is gone (or never was): reply `forbidden`, then close the socket."""


@dataclass(frozen=True)
class Authorized:
    user: User
    image: Image
    access: Access


def session_user(session_key: str | None) -> User | AnonymousUser:
    """Who the session belongs to *now*: logged out, deactivated or password changed
    all give AnonymousUser, exactly as for an HTTP request with that cookie."""
    if not session_key:
        return AnonymousUser()
    engine = import_module(settings.SESSION_ENGINE)
    request: Any = SimpleNamespace(session=engine.SessionStore(session_key))
    user = auth.get_user(request)
    return user if isinstance(user, User) else AnonymousUser()


def authorize(session_key: str | None, user_id: int, image_id: int) -> Authorized:
    """The full check (see the module doc). Runs in Channels' database thread."""
    user = session_user(session_key)
    if not isinstance(user, User) or user.pk != user_id:
        raise Forbidden("You are no longer logged in.")
    image = Image.objects.filter(pk=image_id).first()
    if image is None:
        raise Forbidden("This image no longer exists.")
    try:
        access = project_access(user, image.project_id, Ability.VIEW)
    except (ProjectNotFound, PermissionDenied):
        raise Forbidden("You no longer have access to this project.") from None
    return Authorized(user, image, access)


@functools.cache  # built once per process: it is formatted on every click otherwise
def _fingerprint_sql() -> str:
    """One query over the five rows the full check reads (table names from the models)."""
    q = connection.ops.quote_name

    def table(model: Any) -> str:
        return q(model._meta.db_table)

    image_columns = (
        "project_id",
        "sha256",
        "width",
        "height",
        "embedding_status",
        "embedding_error",
    )
    columns = [
        "s.session_data", "s.expire_date", "u.password", "u.is_active", "m.role",
        "p.model_spec", *(f"i.{q(c)}" for c in image_columns),
    ]  # fmt: skip
    # Only model metadata is formatted in; every value is a query parameter.
    return (
        f"SELECT {', '.join(columns)} FROM {table(Image)} i"  # noqa: S608
        f" JOIN {table(Project)} p ON p.id = i.project_id"
        f" JOIN {table(Membership)} m ON m.project_id = i.project_id AND m.user_id = %s"
        f" JOIN {table(User)} u ON u.id = m.user_id"
        f" JOIN {table(Session)} s ON s.session_key = %s AND s.expire_date > %s"
        " WHERE i.id = %s"
    )


class AccessCheck:
    """One socket's per-message check. Called only from Channels' database thread
    (one at a time), so it needs no lock."""

    def __init__(self, session_key: str | None, user_id: int, image_id: int) -> None:
        self.session_key, self.user_id, self.image_id = session_key, user_id, image_id
        self._kept: tuple[tuple[Any, ...], Authorized] | None = None

    def fingerprint(self) -> tuple[Any, ...] | None:
        """The current values, or None when there is no such row (or no way to tell)."""
        if not self.session_key or settings.SESSION_ENGINE != DB_SESSIONS:
            return None
        now: datetime = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(_fingerprint_sql(), [self.user_id, self.session_key, now, self.image_id])
            row = cursor.fetchone()
        return None if row is None else tuple(row)

    def __call__(self, fresh: bool = False) -> Authorized:
        """The socket's access now; `fresh` always runs the full check (for writes,
        which get up-to-date model instances from it)."""
        current = self.fingerprint()
        kept = self._kept
        if not fresh and kept is not None and current is not None and current == kept[0]:
            return kept[1]
        self._kept = None
        allowed = authorize(self.session_key, self.user_id, self.image_id)
        if current is not None:
            self._kept = (current, allowed)
        return allowed
