"""Login throttling by account and by client address, with backoff.

Each test uses usernames and addresses of its own: the cache (Redis in CI) is
shared, and is never flushed by a test.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD

_hosts = itertools.count(1)


def address() -> str:
    """A client address no other test uses."""
    n = next(_hosts) + uuid.uuid4().int % 200_000
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


@pytest.fixture
def victim(db: None) -> User:
    return User.objects.create_user(f"v{uuid.uuid4().hex[:10]}", "", PASSWORD)


@pytest.fixture(autouse=True)
def _bars(settings: Any) -> None:
    settings.ANYMASK_LOGIN_FAILURES = 3
    settings.ANYMASK_LOGIN_LOCK_SECONDS = 60
    settings.ANYMASK_LOGIN_LOCK_MAX_SECONDS = 900


def log_in(where: str, username: str, password: str, path: str = "") -> Any:
    return Client(REMOTE_ADDR=where).post(
        path or reverse("login"), {"username": username, "password": password}
    )


def logged_in(response: Any) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.client.session


def test_it_pauses_the_account_from_that_address_and_the_right_password_waits_too(
    victim: User,
) -> None:
    attacker = address()
    answers = [log_in(attacker, victim.username, "wrong").status_code for _ in range(3)]
    assert answers == [200, 200, 429]  # the third failure starts the pause
    right = log_in(attacker, victim.username, PASSWORD)
    assert right.status_code == 429 and not logged_in(right)
    text = right.content.decode()
    assert "Too many failed logins from your address for this account" in text
    assert "Try again in 60 seconds" in text or "Try again in 59 seconds" in text
    assert 55 <= int(right["Retry-After"]) <= 60


def test_the_real_user_from_their_own_address_is_not_held_up(victim: User) -> None:
    attacker = address()
    for _ in range(10):
        log_in(attacker, victim.username, "wrong")
    assert logged_in(log_in(address(), victim.username, PASSWORD))


def test_the_pause_ends_and_doubles_with_each_further_failure(victim: User, settings: Any) -> None:
    settings.ANYMASK_LOGIN_LOCK_SECONDS = 1
    settings.ANYMASK_LOGIN_LOCK_MAX_SECONDS = 2
    where = address()
    for _ in range(3):
        log_in(where, victim.username, "wrong")
    assert log_in(where, victim.username, PASSWORD).status_code == 429
    time.sleep(1.1)
    again = log_in(where, victim.username, "wrong")  # the fourth failure: twice as long
    assert again.status_code == 429 and "Try again in 2 seconds" in again.content.decode()
    time.sleep(1.1)
    assert log_in(where, victim.username, PASSWORD).status_code == 429  # still paused
    time.sleep(1.0)
    # Capped at the maximum, and over: the right password gets in from there again.
    assert logged_in(log_in(where, victim.username, PASSWORD))


def test_one_attacker_hammering_cannot_lock_the_account_for_everyone(victim: User) -> None:
    # Paused attempts are not counted, so one address never nears the account-wide bar
    # (20 x 3 failures) however long it keeps trying.
    attacker = address()
    for _ in range(100):
        log_in(attacker, victim.username, "wrong")
    assert logged_in(log_in(address(), victim.username, PASSWORD))


def test_one_address_trying_many_accounts_is_paused_everywhere(db: None) -> None:
    attacker = address()
    names = [f"n{uuid.uuid4().hex[:10]}" for _ in range(18)]  # 6 x 3 over all accounts
    answers = [log_in(attacker, name, "wrong").status_code for name in names]
    assert answers[:-1] == [200] * 17 and answers[-1] == 429
    fresh = log_in(attacker, f"n{uuid.uuid4().hex[:10]}", "wrong")
    assert fresh.status_code == 429
    assert "Too many failed logins from your address." in fresh.content.decode()
    assert log_in(address(), names[0], "wrong").status_code == 200  # others still try


def test_guesses_from_many_addresses_pause_the_account_but_not_forever(
    victim: User, settings: Any
) -> None:
    settings.ANYMASK_LOGIN_LOCK_SECONDS = 1
    for _ in range(60):  # the account-wide bar: 20 x 3, one failure from each address
        log_in(address(), victim.username, "wrong")
    paused = log_in(address(), victim.username, PASSWORD)
    assert paused.status_code == 429
    assert "for this account from many addresses" in paused.content.decode()
    time.sleep(1.1)
    assert logged_in(log_in(address(), victim.username, PASSWORD))


def test_an_unknown_username_is_paused_just_like_a_real_one(victim: User) -> None:
    # Otherwise the pause would tell which usernames exist.
    def answers(name: str) -> list[tuple[int, str]]:
        where = address()
        out = []
        for _ in range(4):
            response = log_in(where, name, "wrong")
            text = response.content.decode().replace(name, "NAME")
            text = text.split('name="csrfmiddlewaretoken"')[0]
            out.append((response.status_code, text))
        return out

    assert answers(victim.username) == answers(f"ghost{uuid.uuid4().hex[:8]}")


def test_a_success_starts_the_count_again(victim: User) -> None:
    where = address()
    for _ in range(2):
        log_in(where, victim.username, "wrong")
    assert logged_in(log_in(where, victim.username, PASSWORD))
    for _ in range(2):
        assert log_in(where, victim.username, "wrong").status_code == 200


def test_a_form_without_a_password_does_not_reset_the_count(victim: User) -> None:
    where = address()
    for _ in range(2):
        log_in(where, victim.username, "wrong")
    assert log_in(where, victim.username, "").status_code == 200
    assert log_in(where, victim.username, "wrong").status_code == 429


def test_the_username_is_counted_whatever_its_case(victim: User) -> None:
    where = address()
    for name in (victim.username.upper(), victim.username, victim.username.title()):
        log_in(where, name, "wrong")
    assert log_in(where, victim.username, PASSWORD).status_code == 429


def test_the_admin_login_is_throttled_too(victim: User) -> None:
    User.objects.filter(pk=victim.pk).update(is_staff=True)
    where = address()
    for _ in range(3):
        log_in(where, victim.username, "wrong", "/admin/login/")
    response = log_in(where, victim.username, PASSWORD, "/admin/login/")
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in response.client.session


def test_a_forged_forwarded_for_header_does_not_escape_the_pause(victim: User) -> None:
    where = address()
    for n in range(5):
        Client(REMOTE_ADDR=where, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").post(
            reverse("login"), {"username": victim.username, "password": "wrong"}
        )
    assert log_in(where, victim.username, PASSWORD).status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(
    victim: User, settings: Any
) -> None:
    settings.ANYMASK_TRUST_X_FORWARDED_FOR = True
    proxy, attacker = address(), address()

    def through_proxy(client_address: str, password: str) -> Any:
        # A client may send its own X-Forwarded-For; the proxy appends the real one.
        return Client(
            REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=f"203.0.113.9, {client_address}"
        ).post(reverse("login"), {"username": victim.username, "password": password})

    for _ in range(3):
        through_proxy(attacker, "wrong")
    assert through_proxy(attacker, PASSWORD).status_code == 429
    assert logged_in(through_proxy(address(), PASSWORD))  # another client behind the proxy


def test_an_ipv6_client_is_counted_by_its_64_block(victim: User) -> None:
    block = f"2001:db8:{uuid.uuid4().int % 65536:x}:1"
    for host in range(1, 4):
        log_in(f"{block}::{host}", victim.username, "wrong")
    assert log_in(f"{block}::ffff", victim.username, PASSWORD).status_code == 429
