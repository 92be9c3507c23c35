"""The embedded mode's storage: local files, written so that none is ever seen half-written."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from typing import Any

from django.core.files.storage import FileSystemStorage

# Names of files still being written; never a stored name (Django's names are the
# callers' own, and none starts with this), so copies and listings skip them.
PARTIAL_PREFIX = ".partial-"
# What link() raises on a filesystem without hard links (some network and FUSE mounts).
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK}


def _place(partial: str, final: str) -> None:
    """Give the finished file `partial` the name `final`, which must be free
    (FileExistsError otherwise)."""
    try:
        os.link(partial, final)  # fails where the name exists: never overwrites
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        # No hard links here: a rename is as atomic, but replaces, so check first
        # (a writer racing into the gap could be replaced: rare, and on such mounts only).
        if os.path.exists(final):
            raise FileExistsError(final) from None
        os.replace(partial, final)


class AtomicFileSystemStorage(FileSystemStorage):
    """FileSystemStorage whose writes appear whole or not at all.

    Django's own writes straight into the final name, so a reader can see a file
    half-written, and a failed or killed write leaves a broken file under a real
    name (a display copy or an embedding that would then be served as stored). Here
    the bytes go to a hidden file beside the final one, are flushed to disk, and are
    then hard-linked into place. A link fails where the name exists, as Django's
    O_EXCL open did, so a taken name is still never overwritten: another is chosen.
    """

    def _save(self, name: str, content: Any) -> str:
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        os.makedirs(directory, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=directory, prefix=PARTIAL_PREFIX)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in content.chunks():
                    out.write(chunk if isinstance(chunk, bytes) else chunk.encode())
                out.flush()
                os.fsync(out.fileno())
            if self.file_permissions_mode is not None:
                os.chmod(partial, self.file_permissions_mode)
            while True:
                try:
                    _place(partial, full_path)
                    break
                except FileExistsError:
                    name = self.get_available_name(name)
                    full_path = self.path(name)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
        return str(name).replace("\\", "/")
