"""`make run`'s path, end to end: migrate, demo data, web server plus worker, Ctrl-C.

Runs in embedded mode (SQLite, filesystem broker) whatever the CI environment says,
because that is what a fresh machine gets.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def embedded_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(ANYMASK_VAR_DIR=str(var_dir), SECRET_KEY="embedded-test-" + "k" * 40)
    # The demo project uses the default hub model: never download it in a test.
    env["HF_HUB_OFFLINE"] = "1"
    env.pop("DEBUG", None)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def processes_using(var_dir: Path) -> list[str]:
    """Command lines of live processes started with ANYMASK_VAR_DIR=var_dir."""
    marker = f"ANYMASK_VAR_DIR={var_dir}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue  # gone already, or not ours to read
    return found


def log_in(base: str, username: str, password: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/accounts/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token
    form = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)}
    ).encode()
    opener.open(urllib.request.Request(f"{base}/accounts/login/", data=form), timeout=10)
    return opener


def test_make_run_serves_the_demo_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    env = embedded_env(tmp_path)
    manage(env, "migrate", "--noinput", "-v", "0")
    assert "Created 'Demo project'" in manage(env, "bootstrap_demo")
    assert manage(env, "bootstrap_demo") == ""  # a second run reuses what exists
    username, password = (tmp_path / "demo-login.txt").read_text().split()

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def is_up() -> bool:
            try:
                return urllib.request.urlopen(f"{base}/accounts/login/", timeout=2).status == 200
            except OSError:
                return False

        wait_for(is_up, 60, "the web server")
        opener = log_in(base, username, password)
        home = opener.open(f"{base}/", timeout=10).read().decode()
        assert "Demo project" in home and "4 images" in home
        # An oversized body is refused by the guard, over real HTTP, before it is sent.
        raw = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        raw.putrequest("POST", "/accounts/login/")
        raw.putheader("Content-Length", str(50 * 2**20))
        raw.endheaders()
        assert raw.getresponse().status == 413
        raw.close()
        # The background worker consumes the embedding tasks queued by the demo upload.
        queue = tmp_path / "broker" / "queue"
        wait_for(lambda: not any(queue.iterdir()), 60, "the worker to drain the queue")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            output, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            pytest.fail("serve did not stop within 30 s of Ctrl-C")
    assert f"Anymask is running at {base}/" in output
    assert f"Log in as '{username}' with password '{password}'" in output
    assert "Stopped." in output
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{base}/accounts/login/", timeout=2)
    assert processes_using(tmp_path) == []  # the worker and the web server exited too
