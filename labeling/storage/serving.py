"""Stored files as HTTP responses, streamed in blocks under ASGI as under WSGI.

Only views that have checked access call this: it is the one way a stored file
reaches a browser (no public URL, no presigned redirect).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.http import FileResponse, Http404

from labeling.storage import StoredStream, open_stream


class StoredFileResponse(FileResponse):
    """A FileResponse that an ASGI server streams block by block.

    Django's FileResponse is a synchronous iterator, which its ASGI handler
    consumes whole into memory before sending a byte: a 2 GB export would be
    2 GB of RAM in the web process. Here each block is read in a worker thread
    as the client takes it.
    """

    # Each block is a hop to a thread and back: Django's 4 KiB blocks made a 64 MB
    # download 18x slower than reading it whole (bench/stored_download.py).
    block_size = 256 * 1024

    async def __aiter__(self) -> AsyncIterator[bytes]:
        stream = self.file_to_stream
        assert stream is not None
        read = sync_to_async(stream.read, thread_sensitive=False)
        while block := await read(self.block_size):
            yield block


def stored_file_response(
    name: str | None,
    content_type: str | None,
    *,
    filename: str = "",
    as_attachment: bool = False,
    cache_seconds: int = 0,
) -> StoredFileResponse:
    """The stored file `name`, or 404 when it is not stored. Without `content_type`
    it is guessed from `filename`. `cache_seconds` lets the browser keep it
    (privately: it is for project members only)."""
    if not name:
        raise Http404("The file is missing from storage.")
    try:
        stream: StoredStream = open_stream(name)
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None
    response = StoredFileResponse(
        stream, content_type=content_type, as_attachment=as_attachment, filename=filename
    )
    response["Content-Length"] = str(stream.size)
    response["Cache-Control"] = f"private, max-age={cache_seconds}" if cache_seconds else "private"
    return response
