"""Login throttling by account and by client address, with backoff.

Three counters of failed logins, each in the cache (Redis when REDIS_URL is set, so
every web process shares them; the process's memory otherwise):

- per (account, address): the one that stops a guesser. After
  ANYMASK_LOGIN_FAILURES failures, logging in to that account from that address is
  paused, for ANYMASK_LOGIN_LOCK_SECONDS at first, doubling with each further
  failure up to ANYMASK_LOGIN_LOCK_MAX_SECONDS.
- per address (every account): a higher bar, against one address trying many names.
- per account (every address): a much higher bar, against guessing from many
  addresses at once.

A paused attempt is refused before the password is checked, so the right password
does not get in either, and it is not counted: a guesser who keeps trying from one
address only ever holds that address's lock, which ends, and can never reach the
account-wide bar (the lock paces it to a few failures an hour; the counters are
forgotten an hour after the last failure). The real user, from their own address,
is not held up. Accounts are counted whether or not they exist, so a pause says
nothing about which usernames are real; keys hold a hash, never the username.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

logger = logging.getLogger(__name__)

# Failures are forgotten this long after the last one.
WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class Pause:
    seconds: int
    reason: str

    @property
    def message(self) -> str:
        wait = _duration(self.seconds)
        return f"Too many failed logins {self.reason}. Try again in {wait}."


def client_address(request: HttpRequest) -> str:
    """The client's address; an IPv6 client is counted by its /64, which one
    machine usually has whole. Behind a proxy (ANYMASK_TRUST_X_FORWARDED_FOR) the
    address the proxy appended last, the one a client cannot forge."""
    raw = request.META.get("REMOTE_ADDR", "") or ""
    if settings.ANYMASK_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            raw = forwarded.split(",")[-1].strip()
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64] or "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _keys(username: str, address: str) -> dict[str, tuple[str, int]]:
    """Counter name -> (cache key stem, failures allowed before a pause)."""
    account = _hash(username.strip().casefold())
    per_pair = settings.ANYMASK_LOGIN_FAILURES
    return {
        "from your address for this account": (f"login:pair:{account}:{_hash(address)}", per_pair),
        "from your address": (f"login:addr:{_hash(address)}", per_pair * 6),
        "for this account from many addresses": (f"login:acct:{account}", per_pair * 20),
    }


def paused(username: str, address: str) -> Pause | None:
    """The longest pause now in force for this account and address, if any."""
    now = time.time()
    keys = _keys(username, address)
    try:
        until = cache.get_many([f"{stem}:lock" for stem, _ in keys.values()])
    except Exception:  # the cache is down: let logins through rather than lock everyone
        logger.warning("Login throttle not checked: the cache is unavailable", exc_info=True)
        return None
    longest: Pause | None = None
    for reason, (stem, _) in keys.items():
        left = math.ceil(until.get(f"{stem}:lock", 0) - now)
        if left > 0 and (longest is None or left > longest.seconds):
            longest = Pause(left, reason)
    return longest


def record_failure(username: str, address: str) -> Pause | None:
    """Count a failed login; return the pause it starts, if it starts one."""
    now = time.time()
    started: Pause | None = None
    try:
        for reason, (stem, allowed) in _keys(username, address).items():
            cache.add(stem, 0, timeout=WINDOW_SECONDS)
            failures = cache.incr(stem)
            cache.touch(stem, WINDOW_SECONDS)
            if failures >= allowed:
                seconds = lock_seconds(failures - allowed)
                cache.set(f"{stem}:lock", now + seconds, timeout=seconds)
                if started is None or seconds > started.seconds:
                    started = Pause(seconds, reason)
    except Exception:
        logger.warning("Login failure not counted: the cache is unavailable", exc_info=True)
        return None
    if started is not None:
        logger.warning(
            "Logins paused %s for %d s (address %s)", started.reason, started.seconds, address
        )
    return started


def record_success(username: str, address: str) -> None:
    """The right password from this address: its own count starts again. The
    address-wide and account-wide counts stay, since they count other guesses."""
    stem, _ = _keys(username, address)["from your address for this account"]
    try:
        cache.delete_many([stem, f"{stem}:lock"])
    except Exception:
        logger.warning("Login throttle not reset: the cache is unavailable", exc_info=True)


def lock_seconds(beyond: int) -> int:
    """The pause after the bar plus `beyond` failures: doubling, capped."""
    first = settings.ANYMASK_LOGIN_LOCK_SECONDS
    most = settings.ANYMASK_LOGIN_LOCK_MAX_SECONDS
    return int(min(most, first * 2 ** min(beyond, 30)))


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


def allow_reset_email(email: str, address: str) -> bool:
    """Whether a password-reset email may go out: at most
    ANYMASK_PASSWORD_RESETS_PER_HOUR to one address an hour, and three times that
    asked from one client address, so the form cannot flood anyone's inbox. Over
    it nothing is sent, and the page answers as always."""
    per_email = settings.ANYMASK_PASSWORD_RESETS_PER_HOUR
    counters = [
        (f"reset:email:{_hash(email.strip().casefold())}", per_email),
        (f"reset:addr:{_hash(address)}", per_email * 3),
    ]
    try:
        for key, _ in counters:
            cache.add(key, 0, timeout=WINDOW_SECONDS)
        counts = [cache.incr(key) for key, _ in counters]
    except Exception:
        logger.warning("Password reset not counted: the cache is unavailable", exc_info=True)
        return True
    allowed = all(count <= most for count, (_, most) in zip(counts, counters, strict=True))
    if not allowed:
        logger.warning("Password-reset email held back (address %s)", address)
    return allowed
