"""The real ASGI app (HTTP and websockets) in a uvicorn subprocess, for browser tests.

pytest-django's `live_server` is WSGI and cannot carry websockets. This server runs
`labeling.asgi:application` exactly as production does, on the test database (it
must be used with `django_db(transaction=True)` so rows are committed where the
subprocess can see them) and the test's media directory.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.worker_process import ROOT, database_url, stop_process


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class AsgiServer:
    """`start`, `stop` and `restart` on a fixed port, so an open page can reconnect."""

    def __init__(
        self, media: Path, log: Path, env: dict[str, str] | None = None, *, lifespan: bool = False
    ) -> None:
        # With the lifespan on, the server warms its models at start, as `serve` does.
        self.media, self.log, self.lifespan, self.env = media, log, lifespan, env or {}
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "ANYMASK_MEDIA_ROOT": str(self.media),
            "DJANGO_SETTINGS_MODULE": "labeling.settings",
            **self.env,
        }
        # The parent sets this for playwright's sake; the server must not inherit it.
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        command = [
            sys.executable, "-m", "uvicorn", "labeling.asgi:application",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--lifespan", "on" if self.lifespan else "off",
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited early:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"the server did not start in {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        stop_process(self.process, grace=15)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""
