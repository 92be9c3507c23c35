"""Stored files, whatever the backend: the filesystem embedded, S3 in production.

Every room reads and writes through Django's default storage and these helpers,
never through a local path: an object store has no `.path()`. A library that
insists on a path gets `local_copy`, a temporary file that is gone afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Protocol

from django.core.files.storage import default_storage

COPY_BLOCK = 1024 * 1024


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class StoredStream:
    """A stored file opened for one pass of reading, with its size known up front.

    On S3 this is the GET's body itself: bytes flow as they are read, where
    `default_storage.open` would first download the whole object to a spool file.
    """

    def __init__(self, body: Readable, size: int) -> None:
        self._body = body
        self.size = size

    def read(self, size: int = -1) -> bytes:
        return self._body.read(size) if size >= 0 else self._body.read()

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> StoredStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def open_stream(name: str) -> StoredStream:
    """The stored file `name`, for reading once from the start (to serve or copy it).
    Raises FileNotFoundError when it is not stored."""
    opener = getattr(default_storage, "open_stream", None)
    if opener is not None:
        stream: StoredStream = opener(name)
        return stream
    if not default_storage.exists(name):
        raise FileNotFoundError(name)
    handle: IO[bytes] = default_storage.open(name, "rb")
    return StoredStream(handle, default_storage.size(name))


@contextmanager
def local_copy(name: str) -> Iterator[Path]:
    """A temporary local copy of the stored file `name`, for libraries that need a
    path; removed when the block ends. Raises FileNotFoundError when not stored."""
    work = tempfile.mkdtemp(prefix="anymask-copy-")
    try:
        target = Path(work) / (os.path.basename(name) or "file")
        with open_stream(name) as source, target.open("wb") as out:
            shutil.copyfileobj(source, out, COPY_BLOCK)
        yield target
    finally:
        shutil.rmtree(work, ignore_errors=True)
