"""`manage.py media_to_s3`: a filesystem media store moved into a real S3 bucket.

Files are made by the app itself on the filesystem (uploads, an export); then
storage is switched to the bucket, as an operator does, and the command copies.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from labeling.models import Image
from labeling.services.uploads import do_add_image
from labeling.storage.filesystem import PARTIAL_PREFIX
from tests.conftest import Personas, drain_queue, image_bytes
from tests.own_s3 import S3_BACKEND, Bucket, OwnS3

pytestmark = pytest.mark.django_db


def move(**options: Any) -> str:
    out = io.StringIO()
    call_command("media_to_s3", stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def filesystem_media(personas: Personas, settings: Any) -> Path:
    for index, color in enumerate(((1, 2, 3), (4, 5, 6), (7, 8, 9))):
        do_add_image(
            personas.project, personas.owner, io.BytesIO(image_bytes(color=color)), f"{index}.png"
        )
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)
    root = Path(settings.MEDIA_ROOT)
    (root / "exports/1/7").mkdir(parents=True)
    (root / "exports/1/7/export.json").write_bytes(b'{"images": []}')
    # What a killed write leaves: never a stored file, never copied.
    (root / "exports/1/7" / f"{PARTIAL_PREFIX}abc").write_bytes(b"half")
    return root


def to_bucket(settings: Any, server: OwnS3, bucket: Bucket) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": S3_BACKEND, "OPTIONS": server.options(bucket.name)},
    }


def test_it_copies_the_store_once_and_the_app_then_serves_from_the_bucket(
    personas: Personas, filesystem_media: Path, settings: Any, s3_server: OwnS3
) -> None:
    names = sorted(
        p.relative_to(filesystem_media).as_posix()
        for p in filesystem_media.rglob("*")
        if p.is_file() and not p.name.startswith(PARTIAL_PREFIX)
    )
    assert len(names) == 7  # three images, three thumbnails, one export
    bucket = Bucket(s3_server, s3_server.new_bucket())
    to_bucket(settings, s3_server, bucket)

    first = move(verbosity=2)
    assert "7 file(s) under" in first and "copied: projects/" in first
    assert "Done: copied 7 file(s)" in first and "0 already in the bucket, 0 failed" in first
    assert bucket.listed() == names
    for name in names:
        assert bucket.read(name) == (filesystem_media / name).read_bytes()

    again = move()
    assert "Done: copied 0 file(s) (0 bytes), 7 already in the bucket, 0 failed." in again

    # A changed file of the same size is copied again; nothing else is.
    changed = filesystem_media / "exports/1/7/export.json"
    changed.write_bytes(b'{"images": {}}')
    assert "Done: copied 1 file(s) (14 bytes), 6 already" in move()
    assert bucket.read("exports/1/7/export.json") == b'{"images": {}}'

    # The rows were never touched: their names resolve in the bucket now.
    image = Image.objects.filter(project=personas.project).first()
    assert image is not None
    response = personas.client("annotator").get(
        f"/projects/{personas.project.pk}/images/{image.pk}/file"
    )
    served = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert served == (filesystem_media / str(image.file.name)).read_bytes()


def test_a_dry_run_copies_nothing(filesystem_media: Path, settings: Any, s3_server: OwnS3) -> None:
    bucket = Bucket(s3_server, s3_server.new_bucket())
    to_bucket(settings, s3_server, bucket)
    assert "Done: would copy 7 file(s)" in move(dry_run=True)
    assert bucket.listed() == []


def test_it_refuses_to_run_without_a_bucket(filesystem_media: Path) -> None:
    with pytest.raises(CommandError, match="ANYMASK_S3_BUCKET"):
        move()
