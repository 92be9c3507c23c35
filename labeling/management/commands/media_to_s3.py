"""Copy the filesystem media store into the configured S3 bucket (README "Object storage")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

from labeling.storage.media_copy import copy_media


class Command(BaseCommand):
    help = (
        "Copy every file under the media root (or --source) into the bucket named by "
        "ANYMASK_S3_BUCKET, skipping objects already there with the same size and MD5. "
        "Safe to rerun: a rerun copies only new or changed files."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--source", type=Path, help="the media directory (default: ANYMASK_MEDIA_ROOT)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would be copied; copy nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Only PrivateS3Storage has a client: the filesystem has nothing to copy into.
        s3_client = getattr(default_storage, "s3_client", None)
        if s3_client is None:
            raise CommandError(
                "Storage is the filesystem: set ANYMASK_S3_BUCKET (and the other "
                "ANYMASK_S3_* settings) to the bucket to copy into."
            )
        source = Path(options["source"] or settings.MEDIA_ROOT)
        if not source.is_dir():
            raise CommandError(f"{source} is not a directory.")
        counts = copy_media(
            source,
            s3_client(),
            default_storage.bucket_name,  # type: ignore[attr-defined]
            self.stdout.write,
            verbose=options["verbosity"] >= 2,
            dry_run=options["dry_run"],
        )
        verb = "would copy" if options["dry_run"] else "copied"
        self.stdout.write(
            f"Done: {verb} {counts.copied} file(s) ({counts.copied_bytes} bytes), "
            f"{counts.skipped} already in the bucket, {len(counts.failed)} failed."
        )
        if counts.failed:
            for failure in counts.failed[:20]:
                self.stderr.write(f"  {failure}")
            raise CommandError(f"{len(counts.failed)} file(s) were not copied; run it again.")
