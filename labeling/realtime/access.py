"""Who may use a socket, checked again on every message, every push and every second.

Access can end while a socket is open, on any web process: a logout, an expired
session, a deactivation, a password change, a removal or a new role. Nothing here
waits to be told (another process could not tell it); each socket asks the
database again instead: before every request, before relaying every push, and once
a second while idle (`guard`), so a socket stops within about a second.

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

The project page's socket (`PageAccessCheck`) reads the same rows but the image.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from types import SimpleNamespace
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.utils import timezone

from labeling.models import Image, Membership, Project
from labeling.permissions import Ability, Access, ProjectNotFound, project_access
from labeling.project_models import ModelRef, ref_for

DB_SESSIONS = "django.contrib.sessions.backends.db"


class Forbidden(Exception):
    """Access is gone (or never was): reply `forbidden`, then close the socket."""


@dataclass(frozen=True)
class Authorized:
    user: User
    image: Image
    access: Access
    # The project's model with its adopted decoder, read with the access: a newly
    # adopted version changes the fingerprint, so the next prompt decodes with it.
    model: ModelRef


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
    return Authorized(user, image, access, ref_for(access.project))


def authorize_page(session_key: str | None, user_id: int, project_id: int) -> Access:
    """The project socket's full check: the session's user now, and their access."""
    user = session_user(session_key)
    if not isinstance(user, User) or user.pk != user_id:
        raise Forbidden("You are no longer logged in.")
    try:
        return project_access(user, project_id, Ability.VIEW)
    except (ProjectNotFound, PermissionDenied):
        raise Forbidden("You no longer have access to this project.") from None


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _person_sql(project_column: str) -> tuple[list[str], str]:
    """The columns and joins every check reads: the session, the user and their
    membership of the project in `project_column`. Parameters: the user id, the
    session key and now."""
    columns = ["s.session_data", "s.expire_date", "u.password", "u.is_active", "m.role"]
    joins = (
        f" JOIN {_table(Membership)} m ON m.project_id = {project_column} AND m.user_id = %s"
        f" JOIN {_table(User)} u ON u.id = m.user_id"
        f" JOIN {_table(Session)} s ON s.session_key = %s AND s.expire_date > %s"
    )
    return columns, joins


@functools.cache  # built once per process: it is formatted on every click otherwise
def _image_sql() -> str:
    """One query over the five rows the full check reads (table names from the models)."""
    q = connection.ops.quote_name
    image_columns = (
        "project_id",
        "sha256",
        "width",
        "height",
        "embedding_status",
        "embedding_error",
    )
    person, joins = _person_sql("i.project_id")
    # The project's classifier too: a retrain's new one must reach the next click.
    columns = [
        *person,
        "p.model_spec",
        "p.adopted_version_id",
        "p.category_head",
        *(f"i.{q(c)}" for c in image_columns),
    ]
    # Only model metadata is formatted in; every value is a query parameter.
    return (
        f"SELECT {', '.join(columns)} FROM {_table(Image)} i"  # noqa: S608
        f" JOIN {_table(Project)} p ON p.id = i.project_id{joins} WHERE i.id = %s"
    )


@functools.cache
def _page_sql() -> str:
    """The project socket's one query: session, user and membership rows."""
    person, joins = _person_sql("p.id")
    return f"SELECT {', '.join(person)} FROM {_table(Project)} p{joins} WHERE p.id = %s"  # noqa: S608


T = TypeVar("T")


class _Fingerprinted(Generic[T]):
    """A full check whose answer is kept while one query reads the same values (see
    the module doc). Called only from Channels' database thread (one at a time), so
    it needs no lock."""

    def __init__(self, session_key: str | None, user_id: int) -> None:
        self.session_key, self.user_id = session_key, user_id
        self._kept: tuple[tuple[Any, ...], T] | None = None

    def _query(self) -> tuple[str, list[Any]]:
        raise NotImplementedError

    def _full(self) -> T:
        raise NotImplementedError

    def fingerprint(self) -> tuple[Any, ...] | None:
        """The current values, or None when there is no such row (or no way to tell)."""
        if not self.session_key or settings.SESSION_ENGINE != DB_SESSIONS:
            return None
        sql, params = self._query()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        return None if row is None else tuple(row)

    def __call__(self, fresh: bool = False) -> T:
        """The access now; `fresh` always runs the full check (for writes, which get
        up-to-date model instances from it)."""
        current = self.fingerprint()
        kept = self._kept
        if not fresh and kept is not None and current is not None and current == kept[0]:
            return kept[1]
        self._kept = None
        allowed = self._full()
        if current is not None:
            self._kept = (current, allowed)
        return allowed


class AccessCheck(_Fingerprinted[Authorized]):
    """The labeling socket's check, on every message, every push and every second."""

    def __init__(self, session_key: str | None, user_id: int, image_id: int) -> None:
        super().__init__(session_key, user_id)
        self.image_id = image_id

    def _query(self) -> tuple[str, list[Any]]:
        now: datetime = timezone.now()
        return _image_sql(), [self.user_id, self.session_key, now, self.image_id]

    def _full(self) -> Authorized:
        return authorize(self.session_key, self.user_id, self.image_id)


class PageAccessCheck(_Fingerprinted[Access]):
    """The project socket's check, on every nudge and every second."""

    def __init__(self, session_key: str | None, user_id: int, project_id: int) -> None:
        super().__init__(session_key, user_id)
        self.project_id = project_id

    def _query(self) -> tuple[str, list[Any]]:
        now: datetime = timezone.now()
        return _page_sql(), [self.user_id, self.session_key, now, self.project_id]

    def _full(self) -> Access:
        return authorize_page(self.session_key, self.user_id, self.project_id)
