"""Run the ASGI web server and a background worker together, for `make run`.

Ctrl-C stops both: the terminal delivers SIGINT to the whole process group, and we
wait for the children to finish their shutdown before exiting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import BaseCommand

from labeling.management.commands.bootstrap_demo import credentials_path


def worker_command(*, pool: str) -> list[str]:
    """A Celery worker for every queue, one task at a time (also used by the tests)."""
    queues = ",".join(dict.fromkeys(settings.ANYMASK_TASK_QUEUES.values()))
    return [
        sys.executable, "-m", "celery", "-A", "labeling", "worker", "-Q", queues,
        "--pool", pool, "--concurrency", "1", "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip


class Command(BaseCommand):
    help = "Serve Anymask on HOST:PORT with a background Celery worker."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-worker", action="store_true", help="web server only")

    def handle(self, *args: Any, **options: Any) -> None:
        python = sys.executable
        commands = []
        if not options["no_worker"]:
            # The embedded broker loses a task whose worker died; nothing is running
            # yet, so anything not ready is due (again).
            call_command("embed_missing", include_running=True, stdout=self.stdout)
            commands.append(worker_command(pool="solo"))
        commands.append(
            [
                python,
                "-m",
                "uvicorn",
                "labeling.asgi:application",
                "--host",
                options["host"],
                "--port",
                str(options["port"]),
                # Its startup warms the models (labeling/realtime/warm_start.py).
                "--lifespan",
                "on",
                "--no-server-header",
            ]
        )
        # Our own interpreter and fixed arguments: nothing here comes from a user.
        children = [subprocess.Popen(c, env=os.environ.copy()) for c in commands]  # noqa: S603
        self._announce(options["host"], options["port"])

        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    self.stderr.write(f"{child.args!r} exited with {child.returncode}; stopping.")
                    exit_code = child.returncode or 1
                    stopping = True
            time.sleep(0.3)
        self._stop(children)
        self.stdout.write("Stopped.")
        if exit_code:
            sys.exit(exit_code)

    def _stop(self, children: list[subprocess.Popen[bytes]]) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def _announce(self, host: str, port: int) -> None:
        lines = ["", f"  Anymask is running at http://{host}:{port}/"]
        path = credentials_path()
        if path.exists():
            username, password = path.read_text().split("\n")[:2]
            user = User.objects.filter(username=username).first()
            if user is not None and user.check_password(password):
                lines.append(f"  Log in as {username!r} with password {password!r}")
                lines.append(f"  (created on first run; stored in {path})")
            else:
                lines.append(f"  The demo password in {path} was changed; use yours.")
        lines += ["  Press Ctrl-C to stop.", ""]
        self.stdout.write("\n".join(lines))
