"""The processes of the topology: Redis, SeaweedFS, a database, two web nodes, workers.

Every process is started here and stopped by its pid (`Cluster.stop`, called from a
`finally`), on free loopback ports, with its log in the run's directory. Redis runs
with AOF (`--appendonly yes`) in a directory of its own, as production must, so a
stop and a start keep what it held.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent.parent

# Nothing here imports Django or the tests' helpers at module level: this process
# configures Django for the run's own database first (bench/topology/__main__.py).


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def stop_process(process: subprocess.Popen[bytes] | None, grace: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `grace` seconds."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited early:\n{tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listened on {port} within {timeout} s:\n{tail(log)}")


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


class Redis:
    """A redis-server with AOF on a port of its own: stop and start keep its data."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "redis"
        self.dir.mkdir()
        self.log = root / "redis.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.dir), "--save", "", "--appendonly", "yes",
            "--appendfsync", "everysec",
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
            command, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        wait_port(self.port, self.process, self.log, 20)

    def stop(self) -> None:
        # SIGTERM: Redis flushes its AOF and exits, as `docker stop` or systemd would.
        stop_process(self.process, grace=10)
        self.process = None


class Database:
    """A database of the run's own on the PostgreSQL that DATABASE_URL names."""

    def __init__(self, base_url: str, name: str) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in {"postgres", "postgresql"}:
            raise SystemExit("make topology needs DATABASE_URL=postgres://... (the CI PostgreSQL)")
        self.name = name
        self.url = urlunsplit(parts._replace(path=f"/{name}"))
        self.admin_url = urlunsplit(parts._replace(path="/postgres"))
        self.created = False

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql)

    def create(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}"')
        self._admin(f'CREATE DATABASE "{self.name}"')
        self.created = True

    def terminate_others(self) -> int:
        """pg_terminate_backend on every connection to this database but the caller's."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.name,),
            ).fetchall()
        return sum(1 for (done,) in rows if done)

    def drop(self) -> None:
        if self.created:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.created = False


class Node:
    """One app process (a web node or a worker): a command, an env, a log."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.command, self.env, self.log = name, command, env, log
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
            self.command, cwd=ROOT, env=self.env, stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL, no grace: the worker's machine is gone."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        stop_process(self.process, grace=20)
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Cluster:
    def __init__(self, root: Path, database_url: str, model_dir: Path, secret: str) -> None:
        self.root = root
        self.redis = Redis(root)
        self.s3: Any = None  # tests/own_s3.py's OwnS3, once started
        self.database = Database(database_url, f"anymask_topology_{os.getpid()}")
        self.bucket = "topology"
        self.model_dir, self.secret = model_dir, secret
        self.webs: list[Node] = []
        self.embedder: Node | None = None
        self.default_worker: Node | None = None

    def env(self, name: str, *, s3: bool = True, **extra: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("ANYMASK_")}
        var = self.root / "var" / name
        var.mkdir(parents=True, exist_ok=True)
        spec = str(self.model_dir)
        env.update(
            DATABASE_URL=self.database.url,
            REDIS_URL=self.redis.url,
            SECRET_KEY=self.secret,
            DJANGO_SETTINGS_MODULE="labeling.settings",
            ANYMASK_VAR_DIR=str(var),
            ANYMASK_MODEL=spec,
            ANYMASK_MODELS=spec,
            ANYMASK_TORCH_THREADS="1",
            **extra,
        )
        if s3:
            env.update(self.s3.env(self.bucket))
        return env

    def start_services(self, meanwhile: Callable[[], object]) -> None:
        """Redis, the database, and SeaweedFS (in a thread: it takes seconds to be
        ready) while `meanwhile` runs (the migrations)."""
        from tests.own_s3 import OwnS3

        self.redis.start()
        self.database.create()
        (self.root / "s3").mkdir()
        self.s3 = OwnS3(self.root / "s3")
        with ThreadPoolExecutor(1) as pool:
            s3_ready = pool.submit(self.s3.start)
            meanwhile()
            s3_ready.result()
        self.s3.client().create_bucket(Bucket=self.bucket)

    def start_app(self, worker_env: dict[str, str]) -> None:
        for index in (1, 2):
            port = free_port()
            command = [
                sys.executable, "-m", "uvicorn", "labeling.asgi:application",
                "--host", "127.0.0.1", "--port", str(port), "--lifespan", "on",
                "--log-level", "warning", "--no-access-log",
            ]  # fmt: skip
            name = f"web{index}"
            node = Node(name, command, self.env(name), self.root / f"{name}.log")
            node.port = port
            self.webs.append(node)
            node.start()
        self.embedder = self.worker("embedder", "embeddings", worker_env)
        self.default_worker = self.worker("default", "default", worker_env)
        for web in self.webs:
            assert web.process is not None and web.port is not None
            wait_port(web.port, web.process, web.log, 120)

    def worker(self, name: str, queues: str, extra: dict[str, str]) -> Node:
        # As docker/compose.yaml runs them: one queue set each, the solo pool.
        command = [
            sys.executable, "-m", "celery", "-A", "labeling", "worker", "-Q", queues,
            "--pool", "solo", "--concurrency", "1", "--loglevel", "INFO", "-n", f"{name}@%h",
            "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        env = {**self.env(name), **extra}
        node = Node(name, command, env, self.root / f"{name}.log")
        node.start()
        return node

    def nodes(self) -> list[Node]:
        return [n for n in (*self.webs, self.embedder, self.default_worker) if n is not None]

    def stop(self) -> None:
        """Everything, by pid, whatever state the run left it in."""
        errors: list[Any] = []
        steps = [*(n.stop for n in self.nodes()), self.redis.stop, self.database.drop]
        if self.s3 is not None:
            steps.append(self.s3.stop)
        for step in steps:
            try:
                step()
            except Exception as error:  # keep stopping the rest
                errors.append(error)
        if errors:
            print(f"topology: while stopping: {errors!r}", file=sys.stderr)

    def keep_logs(self, into: Path) -> None:
        into.mkdir(parents=True, exist_ok=True)
        for log in self.root.glob("*.log"):
            shutil.copy(log, into / log.name)
