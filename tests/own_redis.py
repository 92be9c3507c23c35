"""A Redis of the test's own, on a free port, that a test may stop and restart.

Never the shared Redis: stopping that would break every other test and process.
Started without persistence (`--save ''`, no AOF), like a cache-style deployment, so
a restart loses whatever was queued in it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.live_server import free_port
from tests.worker_process import stop_process


class OwnRedis:
    def __init__(self, log: Path) -> None:
        self.log = log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 20) -> None:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as probe:
                    probe.sendall(b"PING\r\n")
                    if probe.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """Gone at once, with everything it held (nothing is persisted)."""
        stop_process(self.process, grace=10)
        self.process = None
