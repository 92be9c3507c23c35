"""A worker's background sweeps: a thread that runs one at once, then every N seconds."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


class Periodic(threading.Thread):
    """Runs `work` now and then every `interval` seconds until stopped. `work` logs
    and swallows its own failures (a broker or database outage is retried next time)."""

    def __init__(self, name: str, interval: float, work: Callable[[], None]) -> None:
        super().__init__(name=name, daemon=True)
        self.interval, self.work = interval, work
        self.stopping = threading.Event()

    def run(self) -> None:
        while True:
            try:
                self.work()
            finally:
                connection.close()  # this thread's own connection (back to the pool)
            if self.stopping.wait(self.interval):
                return

    def stop(self) -> None:
        self.stopping.set()
