"""The production storage: a private S3 bucket (AWS, or any S3-compatible server).

Objects are never public and never handed out as URLs: every file is streamed
through a view that checks project access first (README "Object storage").
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

from labeling.storage import StoredStream


class PrivateS3Storage(S3Storage):
    def url(self, name: str | None, *args: Any, **kwargs: Any) -> str:
        # A signed or public link would outlive the access check that issued it.
        raise NotImplementedError(
            "Stored files have no URLs: serve them through a view that checks access."
        )

    def s3_client(self) -> Any:
        """boto3's S3 client for this storage's bucket (`bucket_name`)."""
        return self.connection.meta.client

    def open_stream(self, name: str) -> StoredStream:
        """One GET whose body is read as it streams (no spool file, no HEAD first)."""
        key = self._normalize_name(clean_name(name))
        try:
            answer = self.connection.meta.client.get_object(Bucket=self.bucket_name, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise FileNotFoundError(name) from None
            raise
        return StoredStream(answer["Body"], int(answer["ContentLength"]))
