"""The ASGI guard refuses oversized bodies before Django spools them to disk."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from labeling.asgi import http_app

pytestmark = pytest.mark.django_db(transaction=True)


def call(path: str, chunks: list[bytes], *, declared: int | None) -> tuple[int, int]:
    """POST `chunks` through the real HTTP app; return (status, chunks it read)."""
    start, read = exchange(path, chunks, declared=declared)
    return start["status"], read


def exchange(
    path: str, chunks: list[bytes], *, declared: int | None, method: str = "POST"
) -> tuple[dict[str, Any], int]:
    """Send a request through the real HTTP app; return (response start, chunks read)."""
    headers = [(b"host", b"127.0.0.1")]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    pending = list(chunks)
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        if not pending:
            await asyncio.sleep(3600)  # the client has nothing more; never reached
        read += 1
        return {"type": "http.request", "body": pending.pop(0), "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    # A thread of its own: browser tests may leave an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, http_app(scope, receive, send)).result(timeout=60)
    return sent[0], read


def test_a_declared_oversized_body_is_refused_unread() -> None:
    status, read = call("/accounts/login/", [b"x" * 1024] * 10, declared=50 * 2**20)
    assert (status, read) == (413, 0)


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit() -> None:
    megabyte = b"x" * 2**20
    status, read = call("/accounts/login/", [megabyte] * 40, declared=None)
    assert status == 413
    assert read == 5  # 4 MiB default limit: refused at the fifth mebibyte, not the 40th


def test_uploads_get_the_larger_limit() -> None:
    megabyte = b"x" * 2**20
    # Django refuses this anonymous request (no CSRF cookie), but only after the guard
    # let all 8 MiB through: the upload endpoint is not held to the 4 MiB form limit.
    status, read = call("/projects/1/images/upload", [megabyte] * 8, declared=8 * 2**20)
    assert status != 413 and read == 8


def test_the_api_upload_gets_the_larger_limit_and_the_rest_of_the_api_does_not() -> None:
    megabyte = b"x" * 2**20
    # No token, so 401, but only after the guard let the whole body through.
    status, read = call("/api/v1/projects/1/images", [megabyte] * 8, declared=8 * 2**20)
    assert (status, read) == (401, 8)
    status, read = call("/api/v1/projects/1/annotations", [megabyte] * 8, declared=8 * 2**20)
    assert (status, read) == (413, 0)


SECURITY_HEADERS = {
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "cross-origin-opener-policy",
    "content-security-policy",
}


def headers_of(start: dict[str, Any]) -> dict[str, str]:
    return {name.decode().lower(): value.decode() for name, value in start["headers"]}


def test_a_refusal_carries_the_same_security_headers_as_any_page() -> None:
    page, _ = exchange("/accounts/login/", [b""], declared=None, method="GET")
    refused, _ = exchange("/accounts/login/", [b"x"], declared=50 * 2**20)
    assert refused["status"] == 413
    expected = {k: v for k, v in headers_of(page).items() if k in SECURITY_HEADERS}
    assert set(expected) == SECURITY_HEADERS  # the page itself has them all
    got = {k: v for k, v in headers_of(refused).items() if k in SECURITY_HEADERS}
    assert got == expected


def test_a_chunked_refusal_carries_them_too() -> None:
    refused, _ = exchange("/accounts/login/", [b"x" * 2**20] * 6, declared=None)
    assert refused["status"] == 413
    assert headers_of(refused)["x-frame-options"] == "DENY"
    assert headers_of(refused)["x-content-type-options"] == "nosniff"
