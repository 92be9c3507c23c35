"""Add uploaded images (single files or zip archives) to a project.

Each accepted file is stored together with its row in one step: if anything fails,
neither an orphan file nor an orphan row is left. Each refused file is reported by
name with a reason, and never stops the valid files of the same upload.
"""

from __future__ import annotations

import logging
import posixpath
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from labeling.imaging import IMAGE_EXTENSIONS, ImageRefused, check_image
from labeling.models import Image, Project
from labeling.queueing import COMPUTE_EMBEDDING, enqueue_on_commit

logger = logging.getLogger(__name__)

ACCEPTED, REFUSED, IGNORED = "accepted", "refused", "ignored"
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
# A central directory entry is 46 bytes plus the name; allow generous names.
_DIRECTORY_BYTES_PER_ENTRY = 1024
_SPOOL_BYTES = 8 * 1024 * 1024
INTERNAL_ERROR = (
    "The server could not store this file, and nothing of it was kept. Try again; "
    "if it keeps happening, tell your admin."
)


@dataclass(frozen=True)
class UploadResult:
    name: str
    status: str  # accepted | refused | ignored
    reason: str = ""
    image: Image | None = None


def printable(text: str) -> str:
    """Drop control and format characters (newlines, right-to-left overrides)."""
    return "".join(ch for ch in text if ch.isprintable()).strip()[:1000]


def clean_file_name(name: str) -> str:
    """The plain file name to keep: no directories, no control characters."""
    base = printable(posixpath.basename(name.replace("\\", "/")))
    return base[:255] or "unnamed"


def do_add_image(project: Project, user: User, fp: IO[bytes], name: str) -> Image:
    """Validate one image and store it with its row. Raises ImageRefused.

    Call it outside any transaction of your own: the files are written before the
    row's transaction, and only that transaction's failure removes them.
    """
    checked = check_image(
        fp,
        max_pixels=settings.ANYMASK_MAX_IMAGE_PIXELS,
        thumbnail_size=settings.ANYMASK_THUMBNAIL_SIZE,
    )
    duplicate = Image.objects.filter(project=project, sha256=checked.sha256).first()
    if duplicate is not None:
        raise ImageRefused(f"Same content as {duplicate.original_name!r}, already in the project.")

    prefix = f"projects/{project.pk}"
    saved: list[str] = []
    try:
        # Files first, outside the transaction: on SQLite the transaction holds the
        # database's write lock, and copying a large file must not block everyone.
        fp.seek(0)
        image_name = default_storage.save(
            f"{prefix}/images/{checked.sha256}.{checked.extension}", File(fp)
        )
        saved.append(image_name)
        thumb_name = default_storage.save(
            f"{prefix}/thumbnails/{checked.sha256}.jpg", ContentFile(checked.thumbnail_jpeg)
        )
        saved.append(thumb_name)
        with transaction.atomic():
            image = Image.objects.create(
                project=project,
                file=image_name,
                thumbnail=thumb_name,
                original_name=clean_file_name(name),
                format=checked.format,
                width=checked.width,
                height=checked.height,
                sha256=checked.sha256,
                byte_size=checked.byte_size,
                uploaded_by=user,
            )
            # robust: a broker outage must not turn a stored upload into an error (nor
            # delete its files): the image stays "pending", marked as never queued,
            # and the workers' sweep queues it once the broker is back.
            enqueue_on_commit(
                COMPUTE_EMBEDDING, image.pk, robust=True, on_failure=_never_queued(image.pk)
            )
    except IntegrityError:
        # The same content won a race into the project. Its files may carry the very
        # names ours got (an object store can hand one free name to two writers at
        # once): only names no row holds are ours to remove.
        held = set(Image.objects.filter(file__in=saved).values_list("file", flat=True))
        held |= set(Image.objects.filter(thumbnail__in=saved).values_list("thumbnail", flat=True))
        _delete_files([name for name in saved if name not in held])
        raise ImageRefused("Same content as an image just added to the project.") from None
    except BaseException:
        _delete_files(saved)
        raise
    return image


def _never_queued(image_id: int) -> Callable[[], None]:
    def mark_never_queued() -> None:
        Image.objects.filter(pk=image_id).update(embedding_queued_at=None)

    return mark_never_queued


def _delete_files(names: list[str]) -> None:
    for stored in names:
        try:
            default_storage.delete(stored)
        except Exception:  # pragma: no cover - best effort cleanup, logged
            logger.exception("could not remove %s after a failed upload", stored)


def is_zip_name(name: str) -> bool:
    return name.lower().endswith(".zip")


def do_add_uploaded_file(
    project: Project, user: User, fp: IO[bytes], name: str
) -> list[UploadResult]:
    """Add one uploaded file, which is an image or a zip of images."""
    shown = printable(name)
    if is_zip_name(name):
        return list(_add_zip(project, user, fp, shown))
    return [_add_one(project, user, fp, clean_file_name(name), display_name=shown)]


def do_add_uploads(project: Project, user: User, files: list[UploadedFile]) -> list[UploadResult]:
    """Add every file of one request (web page or API), each reported on its own."""
    limit = settings.ANYMASK_MAX_UPLOAD_BYTES
    results: list[UploadResult] = []
    for uploaded in files:
        name = uploaded.name or "unnamed"
        if uploaded.size is not None and uploaded.size > limit:
            results.append(
                UploadResult(printable(name), REFUSED, "The file is larger than the limit.")
            )
            continue
        if uploaded.file is None:  # pragma: no cover - Django always sets it
            continue
        results.extend(do_add_uploaded_file(project, user, uploaded.file, name))
    return results


def _add_one(
    project: Project, user: User, fp: IO[bytes], name: str, *, display_name: str
) -> UploadResult:
    try:
        image = do_add_image(project, user, fp, name)
    except ImageRefused as refusal:
        return UploadResult(display_name, REFUSED, str(refusal))
    except Exception:
        # One file's unexpected failure (disk full, database busy) must not lose the
        # report for the files before it, nor stop the files after it.
        logger.exception("could not store upload %r", display_name)
        return UploadResult(display_name, REFUSED, INTERNAL_ERROR)
    return UploadResult(display_name, ACCEPTED, image=image)


def member_refusal(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member must not be extracted, or None if its path is safe."""
    name = info.filename
    normalized = name.replace("\\", "/")
    if "\x00" in name:
        return "The member name contains a NUL byte."
    if normalized.startswith("/") or _WINDOWS_DRIVE.match(normalized):
        return "Absolute paths are not allowed in archives."
    if ".." in normalized.split("/"):
        return "Paths containing '..' are not allowed in archives."
    if stat.S_ISLNK(info.external_attr >> 16):
        return "Symbolic links are not allowed in archives."
    if info.flag_bits & 0x1:
        return "Encrypted members are not supported."
    return None


def _add_zip(project: Project, user: User, fp: IO[bytes], zip_name: str) -> Iterator[UploadResult]:
    limit_members = settings.ANYMASK_ZIP_MAX_MEMBERS
    declared = declared_entries(fp)
    if declared is None:
        yield UploadResult(zip_name, REFUSED, "This is not a valid zip archive.")
        return
    entries, directory_bytes = declared
    # Checked before ZipFile reads the directory: parsing millions of entries would
    # cost gigabytes of memory before any count could be compared.
    if entries > limit_members or directory_bytes > limit_members * _DIRECTORY_BYTES_PER_ENTRY:
        yield UploadResult(
            zip_name,
            REFUSED,
            f"The archive has {entries} entries; at most {limit_members} are allowed.",
        )
        return
    try:
        archive = zipfile.ZipFile(fp)
    except (zipfile.BadZipFile, OSError, ValueError):
        yield UploadResult(zip_name, REFUSED, "This is not a valid zip archive.")
        return
    with archive:
        members = archive.infolist()
        if len(members) > limit_members:
            yield UploadResult(
                zip_name,
                REFUSED,
                f"The archive has {len(members)} entries; at most {limit_members} are allowed.",
            )
            return
        if not members:
            yield UploadResult(zip_name, IGNORED, "The archive is empty.")
            return
        total = sum(info.file_size for info in members)
        if total > settings.ANYMASK_ZIP_MAX_TOTAL_BYTES:
            yield UploadResult(
                zip_name,
                REFUSED,
                f"The archive would unpack to {total / 2**20:.0f} MiB; the limit is "
                f"{settings.ANYMASK_ZIP_MAX_TOTAL_BYTES / 2**20:.0f} MiB.",
            )
            return
        for info in members:
            yield _add_zip_member(project, user, archive, info, zip_name)


def declared_entries(fp: IO[bytes]) -> tuple[int, int] | None:
    """(entry count, central directory bytes) from the archive's end record, which
    is read from the last few KiB of the file; None when there is no such record."""
    # zipfile's own end-record reader is private but has been stable for decades,
    # and it understands zip64; writing our own would only add bugs.
    read_end_record = getattr(zipfile, "_EndRecData", None)
    if read_end_record is None:  # pragma: no cover - a future Python removed it
        return (0, 0)
    try:
        record = read_end_record(fp)
    except OSError:
        return None
    finally:
        fp.seek(0)
    if not record:
        return None
    return int(record[zipfile._ECD_ENTRIES_TOTAL]), int(record[zipfile._ECD_SIZE])  # type: ignore[attr-defined]


def _add_zip_member(
    project: Project,
    user: User,
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    zip_name: str,
) -> UploadResult:
    display = f"{zip_name} › {printable(info.filename)}"
    refusal = member_refusal(info)
    if refusal:
        return UploadResult(display, REFUSED, refusal)
    base = posixpath.basename(info.filename.replace("\\", "/"))
    if info.is_dir():
        return UploadResult(display, IGNORED, "Folder (its images are listed separately).")
    if info.filename.startswith("__MACOSX/") or base.startswith("._"):
        return UploadResult(display, IGNORED, "macOS metadata, not an image.")
    if posixpath.splitext(base.lower())[1] not in IMAGE_EXTENSIONS:
        return UploadResult(display, IGNORED, "Not an image file name; skipped.")
    if info.file_size > settings.ANYMASK_MAX_UPLOAD_BYTES:
        return UploadResult(display, REFUSED, "The file is larger than the upload limit.")
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        try:
            # zipfile never yields more than the declared size, and checks the CRC.
            with archive.open(info) as member:
                shutil.copyfileobj(member, spool, 1024 * 1024)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError):
            return UploadResult(display, REFUSED, "The archive member is corrupt.")
        spool.seek(0)
        return _add_one(project, user, spool, base, display_name=display)
