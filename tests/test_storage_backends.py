"""Which storage the settings pick, and the embedded storage's whole-or-nothing writes."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.base import ContentFile, File

from labeling.storage import local_copy, open_stream
from labeling.storage.filesystem import PARTIAL_PREFIX, AtomicFileSystemStorage
from tests.test_configuration import ROOT, STRONG_KEY

S3_VARIABLES = (
    "ANYMASK_S3_BUCKET", "ANYMASK_S3_ENDPOINT_URL", "ANYMASK_S3_ACCESS_KEY_ID",
    "ANYMASK_S3_SECRET_ACCESS_KEY", "ANYMASK_S3_REGION",
)  # fmt: skip


def storage_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The default storage's settings, from a fresh interpreter with exactly `env`."""
    clean = {k: v for k, v in os.environ.items() if k not in S3_VARIABLES}
    clean.update({"ANYMASK_VAR_DIR": str(tmp_path), "SECRET_KEY": STRONG_KEY, **env})
    code = (
        "import json, os; os.environ['DJANGO_SETTINGS_MODULE']='labeling.settings'; "
        "from django.conf import settings; print(json.dumps(settings.STORAGES['default']))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


def test_the_filesystem_is_the_embedded_default(tmp_path: Path) -> None:
    result = storage_settings(tmp_path)
    assert json.loads(result.stdout) == {
        "BACKEND": "labeling.storage.filesystem.AtomicFileSystemStorage"
    }


def test_a_bucket_switches_storage_to_private_s3(tmp_path: Path) -> None:
    result = storage_settings(
        tmp_path,
        ANYMASK_S3_BUCKET="anymask-media",
        ANYMASK_S3_ENDPOINT_URL="https://s3.example.internal",
        ANYMASK_S3_ACCESS_KEY_ID="AKIAEXAMPLE",
        ANYMASK_S3_SECRET_ACCESS_KEY="secret-example",
        ANYMASK_S3_REGION="eu-west-1",
    )
    chosen = json.loads(result.stdout)
    assert chosen["BACKEND"] == "labeling.storage.s3.PrivateS3Storage"
    options = chosen["OPTIONS"]
    assert (options["bucket_name"], options["endpoint_url"], options["region_name"]) == (
        "anymask-media", "https://s3.example.internal", "eu-west-1",
    )  # fmt: skip
    assert (options["access_key"], options["secret_key"]) == ("AKIAEXAMPLE", "secret-example")
    assert options["file_overwrite"] is False and options["default_acl"] is None


def test_without_keys_boto3_finds_credentials_itself(tmp_path: Path) -> None:
    options = json.loads(storage_settings(tmp_path, ANYMASK_S3_BUCKET="media").stdout)["OPTIONS"]
    assert options["access_key"] is None and options["endpoint_url"] is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ANYMASK_S3_BUCKET": "ab"}, "ANYMASK_S3_BUCKET must be a bucket name"),
        ({"ANYMASK_S3_BUCKET": "Media_Files"}, "ANYMASK_S3_BUCKET must be a bucket name"),
        (
            {"ANYMASK_S3_BUCKET": "media", "ANYMASK_S3_ACCESS_KEY_ID": "AKIA"},
            "Set both ANYMASK_S3_ACCESS_KEY_ID and ANYMASK_S3_SECRET_ACCESS_KEY",
        ),
        (
            {"ANYMASK_S3_BUCKET": "media", "ANYMASK_S3_ENDPOINT_URL": "s3.example.com"},
            "ANYMASK_S3_ENDPOINT_URL must be an http:// or https:// URL",
        ),
        (
            {"ANYMASK_S3_ENDPOINT_URL": "http://127.0.0.1:8333"},
            "ANYMASK_S3_BUCKET is not",
        ),
    ],
)
def test_incomplete_or_malformed_s3_settings_fail_loudly(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result = storage_settings(tmp_path, **env)
    assert result.returncode != 0 and message in result.stderr


class Breaks(File):
    """Content whose reading fails after its first block, like a dropped upload."""

    def __init__(self) -> None:
        super().__init__(None, "broken.bin")

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        yield b"first block "
        raise OSError("the client went away")


def stored_paths(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_a_failed_write_leaves_nothing_under_any_name(tmp_path: Path) -> None:
    storage = AtomicFileSystemStorage(location=tmp_path)
    with pytest.raises(OSError, match="went away"):
        storage.save("exports/1/export.zip", Breaks())
    assert stored_paths(tmp_path) == []


def test_a_write_appears_whole_and_never_replaces_a_taken_name(tmp_path: Path) -> None:
    storage = AtomicFileSystemStorage(location=tmp_path)
    assert storage.save("a/b.bin", ContentFile(b"first")) == "a/b.bin"
    second = storage.save("a/b.bin", ContentFile(b"second"))
    assert second != "a/b.bin" and second.startswith("a/b_")
    assert (tmp_path / "a/b.bin").read_bytes() == b"first"
    assert (tmp_path / second).read_bytes() == b"second"
    assert not [p for p in stored_paths(tmp_path) if PARTIAL_PREFIX in p]
    assert oct((tmp_path / "a/b.bin").stat().st_mode & 0o777) == "0o644"


def test_without_hard_links_a_write_is_renamed_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*_: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)  # as on a mount without hard links
    storage = AtomicFileSystemStorage(location=tmp_path)
    assert storage.save("a.bin", ContentFile(b"first")) == "a.bin"
    second = storage.save("a.bin", ContentFile(b"second"))
    assert second != "a.bin" and (tmp_path / "a.bin").read_bytes() == b"first"
    assert stored_paths(tmp_path) == sorted(["a.bin", second])


def test_streams_and_local_copies_read_the_stored_bytes(settings: object, tmp_path: Path) -> None:
    from django.core.files.storage import default_storage

    name = default_storage.save("models/v1/config.json", ContentFile(b'{"v": 1}'))
    with open_stream(name) as stream:
        assert stream.size == 8 and stream.read() == b'{"v": 1}'
    with local_copy(name) as path:
        assert path.read_bytes() == b'{"v": 1}' and path.name == "config.json"
    assert not path.exists()
    with pytest.raises(FileNotFoundError):
        open_stream("models/v1/missing.json")
