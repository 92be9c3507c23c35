"""What the scenarios do to the topology: seed rows, HTTP calls, sockets, masks.

Rows are seeded straight through the app's services in this process (its Django is
configured for the run's own database); everything measured goes through the web
nodes over HTTP and websockets, as a browser or an API script would.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


async def orm(call: Callable[..., T], *args: Any) -> T:
    """A database call from a scenario's event loop: in a thread, as Django wants,
    whose connection is closed after (a later pg_terminate_backend must not leave
    this process a dead one)."""
    from django.db import connection

    def closing() -> T:
        try:
            return call(*args)
        finally:
            connection.close()

    return await asyncio.to_thread(closing)


@dataclass
class Person:
    user_id: int
    username: str
    session: str  # the session cookie's value
    token: str  # an API token


@dataclass
class World:
    project_id: int
    owner: Person
    annie: Person  # annotator
    bert: Person  # annotator


def seed(model_spec: str) -> World:
    from django.contrib.auth.models import User
    from django.test import Client

    from labeling.models import Membership, Role
    from labeling.services.projects import do_create_project
    from labeling.services.tokens import do_create_token

    def person(name: str) -> tuple[User, Person]:
        user = User.objects.create_user(name, password=uuid.uuid4().hex)
        client = Client()
        client.force_login(user)
        _, token = do_create_token(user, "topology")
        return user, Person(user.pk, name, client.cookies["sessionid"].value, token)

    owner, owner_person = person("owner")
    project = do_create_project(owner, name="Topology", model_spec=model_spec)
    people = [owner_person]
    for name in ("annie", "bert"):
        user, someone = person(name)
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
        people.append(someone)
    return World(project.pk, *people)


def png(seed: int, size: tuple[int, int] = (96, 64)) -> bytes:
    from PIL import Image as PILImage

    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def box_rle(height: int, width: int, x0: int, y0: int, x1: int, y1: int) -> dict[str, Any]:
    from inference.masks import rle_encode

    mask = np.zeros((height, width), bool)
    mask[y0:y1, x0:x1] = True
    rle: dict[str, Any] = rle_encode(mask)
    return rle


# ------------------------------------------------------------------------ HTTP


def http(
    method: str,
    url: str,
    who: Person,
    body: Any = None,
    *,
    files: list[tuple[str, bytes]] | None = None,
    timeout: float = 30,
) -> tuple[int, Any]:
    """One API call with the person's token; (status, parsed JSON or text). A
    connection failure is status 0."""
    headers = {"Authorization": f"Bearer {who.token}"}
    data: bytes | None = None
    if files is not None:
        boundary = uuid.uuid4().hex
        parts = []
        for name, content in files:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
                f'filename="{name}"\r\nContent-Type: image/png\r\n\r\n'.encode()
                + content
                + b"\r\n"
            )
        data = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
        error.close()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        return 0, str(error)
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")[:500]


# ------------------------------------------------------------------- sockets


class Refused(Exception):
    """The handshake was refused: `status` is the HTTP status (403 a clean refusal)."""

    def __init__(self, status: int | None) -> None:
        super().__init__(f"handshake refused ({status})")
        self.status = status


class Sock:
    """A labeling or project socket of one person on one node, read in the background
    so pushes are timestamped as they arrive."""

    def __init__(self, base: str, path: str, who: Person) -> None:
        self.base, self.path, self.who = base, path, who
        self.socket: Any = None
        self.inbox: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.closed_with: int | None = None
        self.reader: asyncio.Task[None] | None = None

    async def open(self, timeout: float = 30) -> dict[str, Any]:
        import websockets

        url = self.base.replace("http", "ws", 1) + self.path
        try:
            self.socket = await asyncio.wait_for(
                websockets.connect(
                    url,
                    additional_headers={"Cookie": f"sessionid={self.who.session}"},
                    origin=self.base,  # type: ignore[arg-type]
                    max_size=2**24,
                    open_timeout=timeout,
                ),
                timeout,
            )
        except websockets.InvalidStatus as refused:
            raise Refused(refused.response.status_code) from None
        self.closed_with = None
        first = json.loads(await asyncio.wait_for(self.socket.recv(), timeout))
        self.reader = asyncio.create_task(self._read())
        return dict(first)

    async def _read(self) -> None:
        import websockets

        try:
            async for text in self.socket:
                await self.inbox.put((time.monotonic(), json.loads(text)))
        except websockets.ConnectionClosed:
            pass
        finally:
            rcvd = self.socket.close_code
            self.closed_with = rcvd if rcvd is not None else 1006

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def expect(self, match: Any, timeout: float = 10) -> tuple[float, dict[str, Any]] | None:
        """The next message for which `match(message)` holds, or None after `timeout`
        (messages before it are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                at, message = await asyncio.wait_for(self.inbox.get(), left)
            except TimeoutError:
                return None
            if match(message):
                return at, message

    async def request(self, message: dict[str, Any], timeout: float = 15) -> dict[str, Any] | None:
        """Send a frame with a `seq` and wait for the reply that carries it."""
        await self.send(message)
        got = await self.expect(lambda m: m.get("seq") == message["seq"], timeout)
        return got[1] if got else None

    async def wait_closed(self, timeout: float) -> int | None:
        if self.reader is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.reader), timeout)
            except TimeoutError:
                return None
        return self.closed_with

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)


BACKOFF_MS = (500, 1000, 2000, 4000, 8000, 15000)  # as static/js/label/socket.js


async def reconnect(sock: Sock, deadline: float, refusals: dict[int, int]) -> float | None:
    """Reopen with the page's backoff until `deadline`; count each refusal's status.
    Returns when it came back (monotonic), or None."""
    attempt = 0
    while time.monotonic() < deadline:
        try:
            await sock.open(timeout=5)
            return time.monotonic()
        except Refused as refused:
            status = refused.status or 0
            refusals[status] = refusals.get(status, 0) + 1
        except (OSError, TimeoutError):
            refusals[0] = refusals.get(0, 0) + 1
        delay = BACKOFF_MS[min(attempt, len(BACKOFF_MS) - 1)] / 1000
        attempt += 1
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
    return None
