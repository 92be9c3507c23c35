"""Configuration comes from the environment and fails loudly when it is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from labeling.env import env_bool, env_int, env_list

ROOT = Path(__file__).resolve().parent.parent
STRONG_KEY = "x" * 20 + "-a-long-random-test-key-0123456789"


def load_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Import the settings module in a fresh interpreter with exactly `env`."""
    managed = {
        "DEBUG",
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "ANYMASK_MAX_IMAGE_PIXELS",
        "ANYMASK_API_RATE",
    }
    clean = {k: v for k, v in os.environ.items() if k not in managed}
    clean.update({"ANYMASK_VAR_DIR": str(tmp_path), **env})
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='labeling.settings'; "
        "from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL.split(':')[0],"
        " settings.CHANNEL_LAYERS['default']['BACKEND'].rsplit('.', 1)[1],"
        " settings.CACHES['default']['BACKEND'].rsplit('.', 1)[1])"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "key", ["", "changeme", "django-insecure-abcdefghijklmnopqrstuvwxyz0123456789", "short-key"]
)
def test_it_refuses_to_start_without_a_real_secret_key(tmp_path: Path, key: str) -> None:
    result = load_settings(tmp_path, DEBUG="false", SECRET_KEY=key)
    assert result.returncode != 0
    assert "SECRET_KEY is missing, shorter than 32 characters, or a published" in result.stderr


def test_debug_mode_runs_with_a_development_key(tmp_path: Path) -> None:
    assert load_settings(tmp_path, DEBUG="true").returncode == 0


def test_embedded_defaults_need_no_services(tmp_path: Path) -> None:
    result = load_settings(tmp_path, SECRET_KEY=STRONG_KEY)
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "filesystem",
        "InMemoryChannelLayer",
        "LocMemCache",
    ]


def test_database_and_redis_urls_switch_to_the_production_backends(tmp_path: Path) -> None:
    result = load_settings(
        tmp_path,
        SECRET_KEY=STRONG_KEY,
        DATABASE_URL="postgres://anymask@db.example:5432/anymask",
        REDIS_URL="redis://cache.example:6379/0",
    )
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "redis",
        "RedisChannelLayer",
        "RedisCache",
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG must be a boolean"),
        ({"ANYMASK_MAX_IMAGE_PIXELS": "lots"}, "ANYMASK_MAX_IMAGE_PIXELS must be an integer"),
        ({"ANYMASK_MAX_IMAGE_PIXELS": "0"}, "must be at least 1"),
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "DATABASE_URL must be a postgres://"),
        ({"REDIS_URL": "unix:///run/redis.sock"}, "REDIS_URL must be a redis://"),
        ({"REDIS_URL": "http://user:secret@host"}, "starting 'http'"),
        ({"ANYMASK_API_RATE": "lots"}, "ANYMASK_API_RATE must look like 1200/m"),
        ({"ANYMASK_API_RATE": "0/m"}, "ANYMASK_API_RATE must look like 1200/m"),
    ],
)
def test_malformed_values_fail_loudly(tmp_path: Path, env: dict[str, str], message: str) -> None:
    result = load_settings(tmp_path, SECRET_KEY=STRONG_KEY, **env)
    assert result.returncode != 0 and message in result.stderr


def test_env_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLAG", "Yes")
    monkeypatch.setenv("COUNT", "1_000")
    monkeypatch.setenv("HOSTS", " a.example, ,b.example ")
    assert env_bool("FLAG") is True
    assert env_int("COUNT", 5) == 1000
    assert env_int("MISSING_COUNT", 5) == 5
    assert env_list("HOSTS", []) == ["a.example", "b.example"]
    monkeypatch.setenv("COUNT", "-3")
    with pytest.raises(ImproperlyConfigured, match="COUNT must be at least 0"):
        env_int("COUNT", 5, minimum=0)


def test_decode_threads_share_the_cores_instead_of_oversubscribing() -> None:
    from inference.threads import threads_per_decoder

    cores = len(os.sched_getaffinity(0))
    assert threads_per_decoder(1) == cores
    assert threads_per_decoder(cores) == 1
    assert threads_per_decoder(cores * 4) == 1  # never zero
    assert threads_per_decoder(2, override=3) == 3  # the operator's choice wins
