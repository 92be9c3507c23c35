"""Copy a filesystem media store into the S3 bucket, once (`manage.py media_to_s3`).

Stored names are paths relative to the media root, and object keys are the same
names, so the database needs no change: once the files are in the bucket and the
app runs with ANYMASK_S3_BUCKET, every row finds its file. A rerun copies only what
is new or changed: an object of the same size and MD5 (its ETag for a single-part
upload, else the MD5 recorded in its metadata at copy time) is skipped.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labeling.storage.filesystem import PARTIAL_PREFIX

MD5_KEY = "anymask-md5"  # object metadata: the source file's MD5, hex
# One PUT up to this size (its ETag is then the MD5); multipart above, in these parts.
PART_BYTES = 64 * 1024 * 1024
REPORT_EVERY_SECONDS = 5.0


@dataclass
class CopyCounts:
    copied: int = 0
    copied_bytes: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def seen(self) -> int:
        return self.copied + self.skipped + len(self.failed)


def media_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(stored name, path) of every stored file under `root`, in name order; files
    still being written (or left by a killed write) and links are not stored files."""
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.name.startswith(PARTIAL_PREFIX):
            continue
        yield path.relative_to(root).as_posix(), path


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def _already_there(client: Any, bucket: str, key: str, size: int, md5: str) -> bool:
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except client.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    if int(head["ContentLength"]) != size:
        return False
    return bool(
        head.get("ETag", "").strip('"') == md5 or head.get("Metadata", {}).get(MD5_KEY) == md5
    )


def copy_media(
    root: Path,
    client: Any,
    bucket: str,
    report: Callable[[str], None],
    *,
    verbose: bool = False,
    dry_run: bool = False,
) -> CopyCounts:
    """Copy every stored file under `root` that the bucket lacks (or holds changed).
    A file that fails is named in the result and the copy goes on with the next."""
    from boto3.s3.transfer import TransferConfig

    transfer = TransferConfig(multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES)
    files = list(media_files(root))
    counts = CopyCounts()
    last_report = time.monotonic()
    report(f"{len(files)} file(s) under {root}; copying into s3://{bucket}/")
    for name, path in files:
        try:
            size, md5 = path.stat().st_size, md5_of(path)
            if _already_there(client, bucket, name, size, md5):
                counts.skipped += 1
                if verbose:
                    report(f"  same in the bucket: {name}")
            else:
                if not dry_run:
                    # A PUT (or a multipart upload) is visible only once complete: an
                    # interrupted copy leaves no partial object, and a rerun redoes it.
                    client.upload_file(
                        str(path), bucket, name,
                        ExtraArgs={"Metadata": {MD5_KEY: md5}}, Config=transfer,
                    )  # fmt: skip
                counts.copied += 1
                counts.copied_bytes += size
                if verbose:
                    report(f"  {'would copy' if dry_run else 'copied'}: {name} ({size} bytes)")
        except Exception as error:
            counts.failed.append(f"{name}: {type(error).__name__}: {error}")
        if time.monotonic() - last_report >= REPORT_EVERY_SECONDS:
            last_report = time.monotonic()
            report(f"  {counts.seen}/{len(files)} files, {counts.copied} copied so far")
    return counts
