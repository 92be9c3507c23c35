"""The labeling websocket (docs/protocol.md) through the real ASGI application.

One test per message type, access at connect and per message, limits, superseding,
pushes between sockets, a real worker finishing an embedding while a socket waits,
and a hypothesis fuzzer.

Sockets are Channels' `WebsocketCommunicator` against `labeling.asgi.application`
(session cookie, Origin check, routing, consumer), with the real database, storage
and channel layer (in-memory locally, Redis in CI). Projects use a tiny random SAM
saved with `save_pretrained`; embeddings are computed by the real task, in-process.

Tests are plain functions: each drives its sockets on an event loop in a thread of
its own (browser tests may leave a loop running in the main thread).
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from inference import Prompt, load_model
from inference.masks import rle_area, rle_bbox, rle_decode, rle_encode
from inference.testing import save_tiny_sam
from labeling import embedding_store as embeddings
from labeling.asgi import application
from labeling.models import (
    Annotation,
    AnnotationEvent,
    Category,
    EmbeddingStatus,
    Image,
    Membership,
    Presence,
    Project,
)
from labeling.realtime import session
from labeling.services.annotation_bulk import NewMask, do_create_annotations_bulk
from labeling.services.annotations import annotation_json, do_create_annotation
from labeling.services.uploads import do_add_image
from labeling.tasks import compute_embedding
from tests.conftest import Personas, image_row, off_loop
from tests.worker_process import Worker

pytestmark = pytest.mark.django_db(transaction=True)

T = TypeVar("T")
ORIGIN = b"http://127.0.0.1:8000"
WIDTH, HEIGHT = 320, 240


# ------------------------------------------------------------------------ helpers


class LoopThread:
    """An event loop running in its own thread; `run` waits for a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        self.sockets: list[Socket] = []

    def _serve(self) -> None:
        self.loop.run_forever()
        # Closed here, in a thread running no other loop: channels_redis flushes its
        # per-loop layer on close with run_until_complete, which refuses to run in a
        # thread where another loop is running (playwright's, after browser tests).
        self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        for socket in self.sockets:
            socket.disconnect()
        self.run(self._cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    @staticmethod
    async def _cancel_the_rest() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Socket:
    """A synchronous face for one `WebsocketCommunicator`."""

    def __init__(
        self, runner: LoopThread, image_id: int | str, headers: list[Any], path: str = ""
    ) -> None:
        self.runner = runner
        path = path or f"/ws/images/{image_id}/"

        async def make() -> WebsocketCommunicator:
            return WebsocketCommunicator(application, path, headers)

        self.comm = runner.run(make())
        self.gone = False
        # Presence pushes (who else has the image open) come whenever sockets open
        # and close; tests of other things ignore them, the presence test asks.
        self.skip_presence = True
        runner.sockets.append(self)

    def connect(self) -> tuple[bool, Any]:
        accepted, detail = self.runner.run(self.comm.connect(timeout=30))
        self.gone = not accepted
        return accepted, detail

    def send(self, message: dict[str, Any]) -> None:
        self.send_text(json.dumps(message))

    def send_text(self, text: str) -> None:
        self.runner.run(self.comm.send_input({"type": "websocket.receive", "text": text}))

    def send_bytes(self, data: bytes) -> None:
        self.runner.run(self.comm.send_input({"type": "websocket.receive", "bytes": data}))

    def receive(self, timeout: float = 30) -> dict[str, Any]:
        """The next frame as JSON, or {"closed": code} when the server closed."""
        while True:
            message = self._receive(timeout)
            if not (self.skip_presence and message.get("type") == "presence"):
                return message

    def _receive(self, timeout: float) -> dict[str, Any]:
        output = self.runner.run(self.comm.receive_output(timeout), timeout + 5)
        if output["type"] == "websocket.close":
            self.gone = True
            return {"closed": output.get("code", 1000)}
        assert output["type"] == "websocket.send", output
        message = json.loads(output["text"])
        assert isinstance(message, dict)
        return message

    def request(self, message: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
        self.send(message)
        return self.receive(timeout)

    def quiet(self, seconds: float = 0.3) -> bool:
        """True if nothing (but presence pushes, when skipped) arrives for `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.runner.run(self.comm.receive_nothing(left)):
                return True
            if self._receive(5).get("type") != "presence" or not self.skip_presence:
                return False
        return True

    def disconnect(self) -> None:
        """Tell the application the client left (as a server does after any close)."""
        if not self.comm.future.done():
            self.runner.run(self.comm.disconnect(timeout=10))


def session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return str(client.cookies[django_settings.SESSION_COOKIE_NAME].value)


def headers_for(user: User | None, origin: bytes = ORIGIN) -> list[Any]:
    headers: list[Any] = [(b"origin", origin), (b"host", b"127.0.0.1:8000")]
    if user is not None:
        cookie = f"{django_settings.SESSION_COOKIE_NAME}={session_cookie(user)}"
        headers.append((b"cookie", cookie.encode()))
    return headers


def picture(seed: int = 1, size: tuple[int, int] = (WIDTH, HEIGHT)) -> io.BytesIO:
    from PIL import Image as PILImage

    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, format="PNG")
    out.seek(0)
    return out


def click(seq: int, x: float = 100, y: float = 80, **extra: Any) -> dict[str, Any]:
    return {"type": "prompt", "seq": seq, "points": [[x, y]], "labels": [1], **extra}


def square_rle(x: int = 10, y: int = 10, side: int = 20) -> dict[str, Any]:
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[y : y + side, x : x + side] = True
    return rle_encode(mask)


# ------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny_sam(tmp_path_factory.mktemp("models") / "tiny-sam"))


@pytest.fixture(scope="module")
def shared_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One media root for the module, so a picture's embedding is computed once.
    return tmp_path_factory.mktemp("media")


@pytest.fixture
def runner() -> Iterator[LoopThread]:
    running = LoopThread()
    yield running
    running.close()


@pytest.fixture
def project(
    personas: Personas, tiny_sam: str, shared_media: Path, settings: Any, embedding_queue: str
) -> Project:
    settings.MEDIA_ROOT = str(shared_media)
    personas.project.model_spec = tiny_sam
    personas.project.save()
    return personas.project


@pytest.fixture
def image(personas: Personas, project: Project) -> Image:
    """An image of the project with its embedding ready."""
    added = do_add_image(project, personas.owner, picture(), "street.png")
    compute_embedding.apply(args=[added.pk])
    added.refresh_from_db()
    assert added.embedding_status == EmbeddingStatus.READY
    return added


def open_socket(runner: LoopThread, user: User, image: Image) -> tuple[Socket, dict[str, Any]]:
    socket = Socket(runner, image.pk, headers_for(user))
    assert socket.connect()[0]
    hello = socket.receive()
    assert hello["type"] == "hello"
    return socket, hello


def masks_for(socket: Socket, message: dict[str, Any]) -> dict[str, Any]:
    reply = socket.request(message)
    assert reply["type"] == "masks", reply
    return reply


# ------------------------------------------------------------------- the protocol


def test_hello_describes_the_image_its_masks_and_the_user(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    category = Category.objects.create(project=image.project, name="car", color="#ff0000")
    existing = do_create_annotation(
        image, personas.owner, rle=square_rle(), source="manual", category_id=category.pk
    )
    _socket, hello = open_socket(runner, personas.annotator, image)
    assert hello["image"] == {
        "id": image.pk,
        "width": WIDTH,
        "height": HEIGHT,
        "embedding": "ready",
    }
    assert hello["user"] == {"id": personas.annotator.pk, "username": "annie", "role": "annotator"}
    assert hello["categories"] == [{"id": category.pk, "name": "car", "color": "#ff0000"}]
    assert hello["abilities"] == ["annotate", "view"]
    assert hello["limits"] == {
        "max_points": 64,
        "max_frame_bytes": 262144,
        "max_review_comment": 2000,
        "max_polygon_vertices": 2000,
    }
    [annotation] = hello["annotations"]
    assert annotation["id"] == existing.pk
    assert annotation["category"] == category.pk
    assert annotation["created_by"] == "owner" and annotation["version"] == 1
    assert annotation["area"] == 400 and annotation["bbox"] == [10.0, 10.0, 20.0, 20.0]
    assert set(annotation) == {
        "id", "image", "category", "rle", "bbox", "area", "status", "source", "score",
        "category_confidence", "version", "review_comment", "created_by", "updated_by",
        "created_at", "updated_at",
    }  # fmt: skip
    assert annotation["image"] == image.pk


def assert_same_mask(served: np.ndarray, local: np.ndarray) -> None:
    """The server's mask is the engine's, up to the odd pixel on the 0 threshold: the
    server decodes on its decode pool's thread, whose torch thread team differs from
    this one's (inference/threads.py), and a float sum split differently rounds
    differently. A different prompt or mask differs in far more than 0.1%."""
    assert served.shape == local.shape
    assert np.count_nonzero(served != local) <= 0.001 * served.size


def test_ping_gets_pong(runner: LoopThread, personas: Personas, image: Image) -> None:
    socket, _ = open_socket(runner, personas.reviewer, image)
    assert socket.request({"type": "ping", "seq": 3}) == {"type": "pong", "seq": 3}


def test_a_click_gets_candidate_masks(
    runner: LoopThread, personas: Personas, image: Image, tiny_sam: str
) -> None:
    socket, _ = open_socket(runner, personas.annotator, image)
    reply = masks_for(socket, click(1, 100, 80))
    assert reply["seq"] == 1 and reply["size"] == [HEIGHT, WIDTH] and reply["scale"] == 1.0
    assert reply["decode_ms"] > 0
    candidates = reply["candidates"]
    assert len(candidates) == 3  # a lone click is ambiguous
    scores = [c["score"] for c in candidates]
    assert scores == sorted(scores, reverse=True)
    # The very masks the engine computes for this click, in COCO RLE.
    stored = embeddings.read_stored(embeddings.storage_key(image.sha256, tiny_sam))
    assert stored is not None
    model = load_model(tiny_sam)
    expected = model.decode(model.embedding_from_bytes(stored), Prompt.click(100, 80))
    for candidate, engine in zip(candidates, expected, strict=True):
        mask = rle_decode(candidate["rle"])
        assert mask.shape == (HEIGHT, WIDTH)
        assert_same_mask(mask, rle_decode(engine.rle))
        assert candidate["area"] == int(mask.sum())
    box = masks_for(socket, {"type": "prompt", "seq": 2, "box": [20, 20, 200, 150]})
    assert len(box["candidates"]) == 1


def test_refine_feeds_back_a_candidate_of_the_latest_masks(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    socket, _ = open_socket(runner, personas.annotator, image)
    missing = socket.request(click(1, refine=0))
    assert missing["type"] == "error" and missing["code"] == "not_found"
    first = masks_for(socket, click(2, 100, 80))
    refined = masks_for(
        socket,
        {"type": "prompt", "seq": 3, "points": [[100, 80], [200, 150]], "labels": [1, 0]}
        | {"refine": 2},
    )
    plain = masks_for(
        socket, {"type": "prompt", "seq": 4, "points": [[100, 80], [200, 150]], "labels": [1, 0]}
    )
    assert len(first["candidates"]) == 3 and len(refined["candidates"]) == 1
    assert refined["candidates"][0]["rle"] != plain["candidates"][0]["rle"]


def test_accept_saves_the_candidate_with_the_effort_spent(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    category = Category.objects.create(project=image.project, name="tree")
    socket, _ = open_socket(runner, personas.annotator, image)
    reply = masks_for(socket, click(1))
    key = str(uuid.uuid4())
    accept = {"type": "accept", "seq": 2, "key": key, "candidate": 1, "category": category.pk}
    saved = socket.request(accept | {"clicks": 4, "seconds": 12.5})
    assert saved["type"] == "saved" and saved["seq"] == 2
    annotation = saved["annotation"]
    row = Annotation.objects.get()
    assert annotation["id"] == row.pk and annotation["rle"] == reply["candidates"][1]["rle"]
    assert (row.category_id, row.source, row.status, row.version) == (
        category.pk,
        "sam",
        "draft",
        1,
    )
    assert (row.clicks, row.edit_seconds, str(row.client_key)) == (4, 12.5, key)
    assert row.score == reply["candidates"][1]["score"]
    assert row.created_by == personas.annotator
    assert AnnotationEvent.objects.filter(annotation_id=row.pk, action="created").count() == 1


def test_accept_is_idempotent_even_after_a_reconnect(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    socket, _ = open_socket(runner, personas.annotator, image)
    masks_for(socket, click(1))
    key = str(uuid.uuid4())
    first = socket.request({"type": "accept", "seq": 2, "key": key, "candidate": 0})
    again = socket.request({"type": "accept", "seq": 3, "key": key, "candidate": 2})
    assert first["type"] == again["type"] == "saved"
    assert again["annotation"] == first["annotation"]
    # A new connection has no masks, but the key is enough to find the saved one.
    socket.disconnect()
    other, hello = open_socket(runner, personas.annotator, image)
    assert [a["id"] for a in hello["annotations"]] == [first["annotation"]["id"]]
    retry = other.request({"type": "accept", "seq": 1, "key": key, "candidate": 0})
    assert retry["annotation"]["id"] == first["annotation"]["id"]
    assert Annotation.objects.count() == 1 and AnnotationEvent.objects.count() == 1


def test_accept_an_edited_mask(runner: LoopThread, personas: Personas, image: Image) -> None:
    socket, _ = open_socket(runner, personas.annotator, image)
    key = str(uuid.uuid4())
    saved = socket.request({"type": "accept", "seq": 1, "key": key, "rle": square_rle()})
    assert saved["type"] == "saved"
    assert saved["annotation"]["source"] == "manual" and saved["annotation"]["area"] == 400
    wrong_size = rle_encode(np.ones((10, 10), bool))
    bad = socket.request({"type": "accept", "seq": 2, "key": str(uuid.uuid4()), "rle": wrong_size})
    assert bad["type"] == "error" and bad["code"] == "invalid" and "10×10" in bad["detail"]
    assert Annotation.objects.count() == 1


def test_it_refuses_accepting_or_saving_an_empty_mask(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    row = do_create_annotation(image, personas.annotator, rle=square_rle(), source="manual")
    socket, _ = open_socket(runner, personas.annotator, image)
    empty = rle_encode(np.zeros((HEIGHT, WIDTH), bool))
    refused = socket.request({"type": "accept", "seq": 1, "key": str(uuid.uuid4()), "rle": empty})
    assert refused["type"] == "error" and refused["code"] == "invalid"
    assert refused["detail"] == "The mask is empty (0 pixels): there is nothing to save."
    erased = socket.request({"type": "update", "seq": 2, "id": row.pk, "version": 1, "rle": empty})
    assert erased["type"] == "error" and "empty (0 pixels)" in erased["detail"]
    row.refresh_from_db()
    assert (Annotation.objects.count(), row.version, row.area) == (1, 1, 400)


def test_a_preview_is_downscaled_but_accept_stores_full_resolution(
    runner: LoopThread, personas: Personas, image: Image, tiny_sam: str
) -> None:
    socket, _ = open_socket(runner, personas.annotator, image)
    reply = masks_for(socket, click(1, 100, 80, preview_max_side=160))
    assert reply["scale"] == 0.5 and reply["size"] == [HEIGHT, WIDTH]
    preview = reply["candidates"][0]
    assert preview["rle"]["size"] == [120, 160]
    saved = socket.request({"type": "accept", "seq": 2, "key": str(uuid.uuid4()), "candidate": 0})
    stored = rle_decode(saved["annotation"]["rle"])
    assert stored.shape == (HEIGHT, WIDTH)
    model = load_model(tiny_sam)
    blob = embeddings.read_stored(embeddings.storage_key(image.sha256, tiny_sam))
    assert blob is not None
    engine = model.decode(model.embedding_from_bytes(blob), Prompt.click(100, 80))
    full = rle_decode(engine[0].rle)
    assert_same_mask(stored, full)
    # The preview's area, in full-image pixels, is close to the real one.
    assert abs(preview["area"] - int(full.sum())) <= 0.1 * full.sum() + 50


def test_update_changes_a_mask_and_bumps_its_version(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    category = Category.objects.create(project=image.project, name="road")
    row = do_create_annotation(image, personas.annotator, rle=square_rle(), source="manual")
    socket, _ = open_socket(runner, personas.annotator, image)
    update = {"type": "update", "seq": 5, "id": row.pk, "version": 1}
    saved = socket.request(update | {"category": category.pk, "rle": square_rle(side=30)})
    assert saved["type"] == "saved" and saved["seq"] == 5
    assert saved["annotation"]["version"] == 2 and saved["annotation"]["area"] == 900
    submitted = socket.request(update | {"seq": 6, "version": 2, "status": "submitted"})
    assert submitted["annotation"]["status"] == "submitted"
    row.refresh_from_db()
    assert (row.version, row.category_id, row.area, row.status) == (
        3,
        category.pk,
        900,
        "submitted",
    )


def test_a_stale_version_gets_a_conflict_and_writes_nothing(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    row = do_create_annotation(image, personas.annotator, rle=square_rle(), source="manual")
    socket, _ = open_socket(runner, personas.annotator, image)
    fresh = socket.request({"type": "update", "seq": 1, "id": row.pk, "version": 1, "rle": None})
    assert fresh["code"] == "invalid"  # a null mask is malformed, not a conflict
    socket.request({"type": "update", "seq": 2, "id": row.pk, "version": 1, "status": "submitted"})
    stale = socket.request(
        {"type": "update", "seq": 3, "id": row.pk, "version": 1, "rle": square_rle(side=5)}
    )
    assert stale["type"] == "conflict" and stale["seq"] == 3
    assert stale["annotation"]["version"] == 2 and stale["annotation"]["area"] == 400
    stale_delete = socket.request({"type": "delete", "seq": 4, "id": row.pk, "version": 1})
    assert stale_delete["type"] == "conflict"
    row.refresh_from_db()
    assert (row.version, row.area) == (2, 400)
    assert AnnotationEvent.objects.filter(annotation_id=row.pk).count() == 2


def test_delete_removes_a_mask(runner: LoopThread, personas: Personas, image: Image) -> None:
    row = do_create_annotation(image, personas.annotator, rle=square_rle(), source="manual")
    socket, _ = open_socket(runner, personas.annotator, image)
    reply = socket.request({"type": "delete", "seq": 9, "id": row.pk, "version": 1})
    assert reply == {"type": "deleted", "seq": 9, "id": row.pk}
    assert not Annotation.objects.exists()
    again = socket.request({"type": "delete", "seq": 10, "id": row.pk, "version": 1})
    assert again["type"] == "error" and again["code"] == "not_found"


def test_reviewers_approve_and_annotators_cannot(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    row = do_create_annotation(image, personas.annotator, rle=square_rle(), source="manual")
    reviewer, _ = open_socket(runner, personas.reviewer, image)
    approve = {"type": "update", "seq": 1, "id": row.pk, "version": 1, "status": "approved"}
    assert reviewer.request(approve)["annotation"]["status"] == "approved"

    annotator, _ = open_socket(runner, personas.annotator, image)
    refused = annotator.request(approve | {"version": 2, "status": "rejected"})
    assert refused["type"] == "error" and refused["code"] == "forbidden"
    assert annotator.receive() == {"closed": 4403}
    # A reviewer cannot draw masks either.
    prompt = reviewer.request(click(2))
    assert prompt["code"] == "forbidden" and reviewer.receive() == {"closed": 4403}
    row.refresh_from_db()
    assert (row.status, row.version) == ("approved", 2)


def test_a_reviewer_leaves_a_comment_on_one_mask(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    row = do_create_annotation(image, personas.annotator, rle=square_rle(), source="manual")
    annotator, _ = open_socket(runner, personas.annotator, image)
    reviewer, _ = open_socket(runner, personas.reviewer, image)
    reject = {
        "type": "update", "seq": 1, "id": row.pk, "version": 1, "status": "rejected",
        "review_comment": "The wing mirror is missing.",
    }  # fmt: skip
    saved = reviewer.request(reject)["annotation"]
    assert (saved["status"], saved["review_comment"]) == ("rejected", "The wing mirror is missing.")
    pushed = annotator.receive()
    assert pushed["type"] == "annotation.updated"
    assert pushed["annotation"]["review_comment"] == "The wing mirror is missing."
    too_long = reviewer.request(reject | {"seq": 2, "version": 2, "review_comment": "x" * 2001})
    assert too_long["code"] == "invalid"
    # Writing the reviewer's comment is the reviewer's ability, not the annotator's.
    forged = annotator.request({"type": "update", "seq": 3, "id": row.pk, "version": 2,
                                "review_comment": ""})  # fmt: skip
    assert forged["code"] == "forbidden"
    row.refresh_from_db()
    assert row.review_comment == "The wing mirror is missing."


# ------------------------------------------------------------------------- access


@pytest.mark.parametrize("who", ["outsider", "anonymous"])
def test_it_refuses_people_without_access_at_connect(
    runner: LoopThread, personas: Personas, image: Image, who: str
) -> None:
    user = None if who == "anonymous" else personas.outsider
    socket = Socket(runner, image.pk, headers_for(user))
    assert socket.connect()[0] is False


def test_it_rejects_a_foreign_or_missing_image_like_any_other(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    foreign_project = Project.objects.get(name="Oscar's own")
    foreign = Image.objects.create(
        project=foreign_project, file="x.png", original_name="x.png", format="PNG",
        width=10, height=10, sha256="0" * 64, byte_size=1,
    )  # fmt: skip
    refusals = []
    for image_id in (foreign.pk, 999_999, image.pk):
        socket = Socket(runner, image_id, headers_for(personas.annotator))
        refusals.append(socket.connect())
    assert refusals[0] == refusals[1] and refusals[0][0] is False
    assert refusals[2][0] is True


def test_it_refuses_a_foreign_origin(runner: LoopThread, personas: Personas, image: Image) -> None:
    socket = Socket(runner, image.pk, headers_for(personas.owner, origin=b"https://evil.example"))
    assert socket.connect()[0] is False


def test_removal_from_the_project_ends_the_socket_at_the_next_message(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    socket, _ = open_socket(runner, personas.annotator, image)
    assert socket.request({"type": "ping", "seq": 1})["type"] == "pong"
    Membership.objects.filter(user=personas.annotator).delete()
    refused = socket.request(click(2))
    assert refused == {
        "type": "error",
        "seq": 2,
        "code": "forbidden",
        "detail": "You no longer have access to this project.",
    }
    assert socket.receive() == {"closed": 4403}


def test_logging_out_ends_the_socket_at_the_next_message(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    client = Client()
    client.force_login(personas.annotator)
    cookie = f"{django_settings.SESSION_COOKIE_NAME}={client.cookies['sessionid'].value}"
    headers = [(b"origin", ORIGIN), (b"host", b"127.0.0.1:8000"), (b"cookie", cookie.encode())]
    socket = Socket(runner, image.pk, headers)
    assert socket.connect()[0]
    socket.receive()  # hello
    client.logout()
    assert socket.request({"type": "ping", "seq": 1})["code"] == "forbidden"
    assert socket.receive() == {"closed": 4403}


# ------------------------------------------------------------------------- limits


@pytest.mark.parametrize(
    ("message", "code", "detail"),
    [
        (click(1) | {"points": [[1, 1]] * 65, "labels": [1] * 65}, "invalid_prompt", "64"),
        ('{"type": "prompt", "seq": 1, "points": [[NaN, 2]], "labels": [1]}', "bad_json", "NaN"),
        ('{"type": "prompt", "seq": 1, "points": [[1e999, 2]], "labels": [1]}', "bad_json", ""),
        (click(1, 321, 10), "invalid_prompt", "outside the 320x240 image"),
        (click(1, -1, 10), "invalid_prompt", "outside"),
        ({"type": "prompt", "seq": 1, "box": [300, 10, 400, 50]}, "invalid_prompt", "outside"),
        ({"type": "prompt", "seq": 1}, "invalid_prompt", "empty"),
        (click(1) | {"points": [["1", 2]]}, "invalid_prompt", "numbers"),
        (click(1) | {"points": "here"}, "invalid", "list"),
        (click(1) | {"labels": [7]}, "invalid_prompt", "labels"),
        (click(1) | {"box": [1, 2]}, "invalid", "box"),
        (click(1) | {"multimask": "yes"}, "invalid", "multimask"),
        (click(1) | {"preview_max_side": 0}, "invalid", "preview_max_side"),
        ({"type": "prompt", "seq": "1"}, "invalid", "seq"),
        ({"type": "prompt", "seq": True}, "invalid", "seq"),
        ({"type": "teleport", "seq": 1}, "unknown_type", "teleport"),
        ({"seq": 1}, "unknown_type", ""),
        ("[1, 2]", "bad_json", "object"),
        ("{'single': 'quotes'}", "bad_json", ""),
        ("[" * 100_000, "bad_json", ""),
        ({"type": "accept", "seq": 1, "key": "not-a-uuid", "candidate": 0}, "invalid", "UUID"),
        ({"type": "accept", "seq": 1, "key": str(uuid.UUID(int=1))}, "invalid", "either"),
        (
            {"type": "accept", "seq": 1, "key": str(uuid.UUID(int=1)), "rle": {"size": "big"}},
            "invalid",
            "RLE",
        ),
        (
            {"type": "accept", "seq": 1, "key": str(uuid.UUID(int=1)), "candidate": 0},
            "not_found",
            "",
        ),
        ({"type": "update", "seq": 1, "id": 1, "version": 1}, "invalid", "at least one"),
        (
            {"type": "update", "seq": 1, "id": 1, "version": 1, "status": "done"},
            "invalid",
            "status",
        ),
        ({"type": "update", "seq": 1, "id": 10**30, "version": 1}, "invalid", "id"),
        ({"type": "update", "seq": 1, "id": 1, "version": 1, "category": 5}, "not_found", ""),
        ({"type": "delete", "seq": 1, "id": -3, "version": 1}, "invalid", "id"),
    ],
)
def test_malformed_messages_get_an_error_and_the_socket_stays_open(
    runner: LoopThread,
    personas: Personas,
    image: Image,
    message: dict[str, Any] | str,
    code: str,
    detail: str,
) -> None:
    socket, _ = open_socket(runner, personas.owner, image)
    socket.send_text(message if isinstance(message, str) else json.dumps(message))
    reply = socket.receive()
    assert reply["type"] == "error" and reply["code"] == code, reply
    assert detail in reply["detail"]
    assert socket.request({"type": "ping", "seq": 99}) == {"type": "pong", "seq": 99}
    assert not Annotation.objects.exists()


def test_an_oversized_frame_and_binary_frames_are_refused(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    socket, _ = open_socket(runner, personas.annotator, image)
    socket.send(click(1) | {"padding": "x" * 300_000})
    too_large = socket.receive()
    assert too_large["code"] == "too_large" and "262144" in too_large["detail"]
    socket.send_bytes(b"\x00\x01")
    assert socket.receive()["code"] == "bad_json"
    assert socket.request({"type": "ping", "seq": 2})["type"] == "pong"


def test_a_flood_of_messages_is_rate_limited(
    runner: LoopThread, personas: Personas, image: Image, settings: Any
) -> None:
    settings.ANYMASK_WS_RATE, settings.ANYMASK_WS_BURST = 30, 60
    socket, _ = open_socket(runner, personas.annotator, image)
    # Frames the consumer refuses without touching the database, so the flood is
    # processed as fast as it arrives (a ping's access check would pace it).
    for seq in range(120):
        socket.send({"type": "no-such-type", "seq": seq})
    replies = [socket.receive() for _ in range(120)]
    codes = [r["code"] for r in replies]
    assert set(codes) == {"unknown_type", "rate_limited"}
    assert 40 <= codes.count("rate_limited") <= 60  # a burst of 60, plus what refilled
    assert socket.quiet(1.0)  # and after a pause it answers again
    assert socket.request({"type": "ping", "seq": 500})["type"] == "pong"


def test_the_latest_prompt_wins(runner: LoopThread, personas: Personas, image: Image) -> None:
    embeddings.clear_cache()  # the first decode also reads the embedding
    socket, _ = open_socket(runner, personas.annotator, image)
    count = 30
    for seq in range(count):
        socket.send(click(seq, 10 + seq * 5, 50))
    replies: dict[int, str] = {}
    while len(replies) < count:
        reply = socket.receive()
        assert reply["seq"] not in replies, reply
        replies[reply["seq"]] = reply["type"]
    assert set(replies.values()) == {"masks", "superseded"}
    assert replies[count - 1] == "masks"  # the last one is always answered
    assert list(replies.values()).count("superseded") >= count // 3
    assert replies[0] == "masks"  # it was decoding before the others came
    assert socket.quiet()


def test_a_hover_preview_never_replaces_what_was_clicked(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    socket, _ = open_socket(runner, personas.annotator, image)
    clicked = masks_for(socket, click(1, 100, 80))
    hover = masks_for(socket, click(2, 250, 200, hover=True, multimask=False))
    assert hover["hover"] is True and len(hover["candidates"]) == 1
    assert "hover" not in clicked
    # Candidate 2 exists only in the click's reply: accept still refers to it.
    saved = socket.request({"type": "accept", "seq": 3, "key": str(uuid.uuid4()), "candidate": 2})
    assert saved["type"] == "saved"
    assert saved["annotation"]["rle"] == clicked["candidates"][2]["rle"]
    refused = socket.request(click(4, hover=True, refine=0))
    assert refused["type"] == "error" and refused["code"] == "invalid"
    odd = socket.request(click(5, hover="yes"))
    assert odd["type"] == "error" and odd["code"] == "invalid"


def test_a_hover_preview_never_pushes_out_a_waiting_click(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    socket, _ = open_socket(runner, personas.annotator, image)
    # Hold the process's decode pool, so click 1 queues behind it and click 2 waits
    # in the socket's latest-wins slot when the hover arrives.
    release = threading.Event()
    threads = django_settings.ANYMASK_DECODE_THREADS
    busy = [session.pool().submit(release.wait, 30) for _ in range(threads)]
    try:
        socket.send(click(1, 10, 10))
        socket.send(click(2, 20, 20))
        socket.send(click(3, 30, 30, hover=True))
        assert socket.receive() == {"type": "superseded", "seq": 3}  # the hover, not 2
    finally:
        release.set()
    assert all(job.result(10) for job in busy)
    replies = {reply["seq"]: reply["type"] for reply in (socket.receive(), socket.receive())}
    assert replies == {1: "masks", 2: "masks"}


def test_working_on_an_image_keeps_its_claim_alive(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    stale = timezone.now() - timedelta(minutes=20)
    Image.objects.filter(pk=image.pk).update(claimed_by=personas.annotator, claimed_at=stale)
    socket, _ = open_socket(runner, personas.annotator, image)
    masks_for(socket, click(1))
    deadline = time.monotonic() + 10
    while Image.objects.get(pk=image.pk).claimed_at == stale and time.monotonic() < deadline:
        time.sleep(0.05)
    claimed = Image.objects.get(pk=image.pk)
    assert claimed.claimed_by == personas.annotator
    assert claimed.claimed_at is not None and claimed.claimed_at > stale


def test_everyone_on_an_image_sees_who_else_has_it_open(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    annie, _ = open_socket(runner, personas.annotator, image)
    annie.skip_presence = False
    assert annie.receive(5) == {"type": "presence", "viewers": ["annie"]}
    owner, _ = open_socket(runner, personas.owner, image)
    assert annie.receive(5) == {"type": "presence", "viewers": ["annie", "owner"]}
    status = personas.client("reviewer").get(f"/projects/{image.project_id}/status.json").json()
    assert status["images"][0]["viewers"] == ["annie", "owner"]
    owner.disconnect()
    assert annie.receive(5) == {"type": "presence", "viewers": ["annie"]}
    # A socket that died without closing stops counting once its row goes stale.
    Presence.objects.update(seen_at=timezone.now() - timedelta(minutes=10))
    status = personas.client("reviewer").get(f"/projects/{image.project_id}/status.json").json()
    assert status["images"][0]["viewers"] == []


def test_accepting_a_machine_proposal_makes_it_a_draft_with_a_category(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    car = Category.objects.create(project=image.project, name="car")
    proposal = do_create_annotation(
        image, None, rle=square_rle(), source="auto", status="proposed", score=0.9
    )
    socket, hello = open_socket(runner, personas.annotator, image)
    assert [a["status"] for a in hello["annotations"]] == ["proposed"]
    saved = socket.request(
        {"type": "update", "seq": 1, "id": proposal.pk, "version": 1, "status": "draft",
         "category": car.pk}
    )  # fmt: skip
    assert saved["type"] == "saved"
    assert (saved["annotation"]["status"], saved["annotation"]["category"]) == ("draft", car.pk)
    row = Annotation.objects.get(pk=proposal.pk)
    assert (row.status, row.source, row.updated_by) == ("draft", "auto", personas.annotator)


# ---------------------------------------------------------------------- pushes


def test_changes_reach_the_other_sockets_on_the_image(
    runner: LoopThread, personas: Personas, image: Image, project: Project
) -> None:
    other_image = do_add_image(project, personas.owner, picture(2), "other.png")
    annie, _ = open_socket(runner, personas.annotator, image)
    owner, _ = open_socket(runner, personas.owner, image)
    elsewhere, _ = open_socket(runner, personas.owner, other_image)

    saved = annie.request(
        {"type": "accept", "seq": 1, "key": str(uuid.uuid4()), "rle": square_rle()}
    )
    created = owner.receive(5)
    assert created == {
        "type": "annotation.created",
        "annotation": saved["annotation"],
        "by": "annie",
    }

    annotation_id = saved["annotation"]["id"]
    owner.request(
        {"type": "update", "seq": 1, "id": annotation_id, "version": 1, "status": "approved"}
    )
    updated = annie.receive(5)
    assert updated["type"] == "annotation.updated" and updated["by"] == "owner"
    assert updated["annotation"]["status"] == "approved"

    annie.request({"type": "delete", "seq": 2, "id": annotation_id, "version": 2})
    assert owner.receive(5) == {"type": "annotation.deleted", "id": annotation_id, "by": "annie"}
    # Nobody gets an echo of their own change, nor another image's news.
    assert annie.quiet() and owner.quiet() and elsewhere.quiet()


def test_an_import_reaches_the_image_s_sockets_as_batches(
    runner: LoopThread, personas: Personas, image: Image, project: Project
) -> None:
    other_image = do_add_image(project, personas.owner, picture(2), "other.png")
    annie, _ = open_socket(runner, personas.annotator, image)
    elsewhere, _ = open_socket(runner, personas.owner, other_image)
    # First 120 images nobody has open: were their pushes sent project-wide, they would
    # fill each socket's bounded channel (100 messages) before its own image's came.
    unopened = [image_row(project, 1000 + i, (WIDTH, HEIGHT)) for i in range(120)]
    masks = [NewMask(row.pk, square_rle(), None) for row in unopened]
    masks += [NewMask(image.pk, square_rle(x=i, y=i, side=10), None) for i in range(150)]
    masks.append(NewMask(other_image.pk, square_rle(), None))
    rows = off_loop(
        do_create_annotations_bulk,
        project.pk,
        masks,
        personas.owner,
        source="import",
        status="submitted",
    )
    # 150 masks on the image: one push of 100 and one of 50, in order, each mask whole.
    first, second = annie.receive(5), annie.receive(5)
    assert (first["type"], first["by"]) == ("annotation.imported", "owner")
    pushed = first["annotations"] + second["annotations"]
    assert (len(first["annotations"]), len(second["annotations"])) == (100, 50)
    assert pushed == [annotation_json(row) for row in rows[120:270]]
    assert pushed[7]["bbox"] == [7.0, 7.0, 10.0, 10.0] and pushed[7]["area"] == 100
    assert [a["id"] for a in elsewhere.receive(5)["annotations"]] == [rows[270].pk]
    assert annie.quiet() and elsewhere.quiet()
    # A socket opened now finds the masks in its hello, like any others.
    _, hello = open_socket(runner, personas.reviewer, image)
    assert len(hello["annotations"]) == 150


def test_an_idle_socket_keeps_getting_pushes(
    runner: LoopThread, personas: Personas, image: Image
) -> None:
    """On Redis each socket blocks in a 5 s pop; an idle one must outlive many of them
    (redis-py 8's default read timeout once raced the pop and killed the consumer)."""
    annie, _ = open_socket(runner, personas.annotator, image)
    owner, _ = open_socket(runner, personas.owner, image)
    assert owner.quiet(11)  # two pops' worth of silence
    saved = annie.request(
        {"type": "accept", "seq": 1, "key": str(uuid.uuid4()), "rle": square_rle()}
    )
    assert owner.receive(5)["annotation"] == saved["annotation"]
    assert owner.request({"type": "ping", "seq": 2}) == {"type": "pong", "seq": 2}


def test_a_model_switch_while_the_socket_is_open_sends_no_stale_masks(
    runner: LoopThread, personas: Personas, image: Image, tmp_path: Path
) -> None:
    socket, _ = open_socket(runner, personas.annotator, image)
    masks_for(socket, click(1))
    # The admin switches the project to another model (its embeddings get recomputed).
    other = str(save_tiny_sam(tmp_path / "other-sam", seed=1))
    Project.objects.filter(pk=image.project_id).update(model_spec=other)
    Image.objects.filter(pk=image.pk).update(embedding_status=EmbeddingStatus.PENDING)
    socket.send(click(2))
    replies = [socket.receive(), socket.receive()]
    assert {"type": "embedding", "status": "pending", "error": ""} in replies
    assert {"type": "pending", "seq": 2, "embedding": "pending"} in replies
    assert socket.quiet()  # and no masks of the old model


def test_a_prompt_before_the_embedding_is_ready_gets_pending(
    runner: LoopThread, personas: Personas, project: Project
) -> None:
    waiting = do_add_image(project, personas.owner, picture(3), "slow.png")
    socket, hello = open_socket(runner, personas.annotator, waiting)
    assert hello["image"]["embedding"] == "pending"
    assert socket.request(click(1)) == {"type": "pending", "seq": 1, "embedding": "pending"}
    # Another process (the worker) finishes: the socket notices by itself.
    Image.objects.filter(pk=waiting.pk).update(embedding_status=EmbeddingStatus.RUNNING)
    assert socket.receive(5) == {"type": "embedding", "status": "running", "error": ""}


def test_a_prompt_on_an_image_the_model_failed_on_is_answered_at_once_with_why(
    runner: LoopThread, personas: Personas, project: Project
) -> None:
    failed = do_add_image(project, personas.owner, picture(4), "lost.png")
    why = "model 'sam-vit-base' is unavailable: the Hugging Face Hub is unreachable"
    Image.objects.filter(pk=failed.pk).update(
        embedding_status=EmbeddingStatus.FAILED, embedding_error=why
    )
    socket, hello = open_socket(runner, personas.annotator, failed)
    assert hello["image"]["embedding"] == "failed"
    reply = socket.request(click(1))
    assert reply["type"] == "error" and reply["seq"] == 1
    assert reply["code"] == "embedding_failed" and why in reply["detail"]
    assert socket.quiet()  # no "pending", nothing to wait for


# ------------------------------------------------------------- the real worker


def test_a_pending_image_becomes_ready_without_reconnecting(
    runner: LoopThread,
    personas: Personas,
    project: Any,
    shared_media: Path,
    tmp_path: Path,
    django_db_blocker: Any,
) -> None:
    image = do_add_image(project, personas.owner, picture(7), "fresh.png")  # queued
    socket, hello = open_socket(runner, personas.annotator, image)
    assert hello["image"]["embedding"] == "pending"
    assert socket.request(click(1)) == {"type": "pending", "seq": 1, "embedding": "pending"}

    worker = Worker(shared_media, tmp_path / "worker.log", pool="solo")
    worker.start()
    try:
        statuses: list[str] = []
        while not statuses or statuses[-1] != "ready":
            push = socket.receive(180)
            assert push["type"] == "embedding" and push["error"] == "", push
            statuses.append(push["status"])
    finally:
        worker.stop()
    assert statuses[-1] == "ready" and set(statuses) <= {"running", "ready"}
    reply = socket.request(click(2))
    assert reply["type"] == "masks" and len(reply["candidates"]) == 3


# ------------------------------------------------------------------------ fuzzing

REPLY_TYPES = {"pong", "masks", "pending", "superseded", "saved", "conflict", "deleted", "error"}
PUSH_TYPES = {
    "annotation.created",
    "annotation.updated",
    "annotation.deleted",
    "annotation.imported",
    "embedding",
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=25,
)
coordinate = st.floats(-10, 400, allow_nan=False)
# Messages close enough to the protocol to get past the first checks.
messages = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["prompt", "accept", "update", "delete", "revert", "restore", "ping", "hello", ""]
        ),
        "seq": st.integers(0, 1000) | json_values,
    },
    optional={
        "points": st.lists(st.lists(coordinate, min_size=2, max_size=2), max_size=4) | json_values,
        "labels": st.lists(st.integers(-1, 2), max_size=4) | json_values,
        "box": st.lists(coordinate, min_size=4, max_size=4) | json_values,
        "refine": st.integers(-1, 3) | json_values,
        "multimask": st.booleans() | json_values,
        "preview_max_side": st.integers(-5, 500) | json_values,
        "key": st.uuids().map(str) | json_values,
        "candidate": st.integers(-1, 3) | json_values,
        "category": st.integers(-1, 3) | json_values,
        "rle": st.fixed_dictionaries(
            {"size": st.lists(st.integers(-1, 400), max_size=3), "counts": st.text(max_size=30)}
        )
        | json_values,
        "clicks": st.integers(-5, 10**7) | json_values,
        "seconds": st.floats(-5, 10**9, allow_nan=False) | json_values,
        "id": st.integers(-1, 5) | json_values,
        "version": st.integers(-1, 5) | json_values,
        "status": st.sampled_from(["draft", "submitted", "approved", "proposed", "x"])
        | json_values,
    },
)
frames = st.one_of(
    messages.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=200),
)


def test_arbitrary_frames_get_answers_and_leave_no_garbage(
    runner: LoopThread, personas: Personas, image: Image, settings: Any
) -> None:
    settings.ANYMASK_WS_RATE = settings.ANYMASK_WS_BURST = 100_000  # the fuzzer is fast
    socket, _ = open_socket(runner, personas.owner, image)
    probe = iter(range(10**9, 2 * 10**9))

    @hypothesis_settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(frame=frames)
    def check(frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            socket.send_bytes(frame)
        else:
            socket.send_text(frame)
        # A ping behind every frame: its pong proves the socket is alive and in order.
        seq = next(probe)
        socket.send({"type": "ping", "seq": seq})
        while True:
            reply = socket.receive(30)
            assert "closed" not in reply, f"the socket closed after {frame!r}"
            assert reply.get("type") in REPLY_TYPES | PUSH_TYPES, reply
            if reply["type"] == "error":
                assert isinstance(reply["code"], str) and reply["code"] != "server_error", reply
                assert isinstance(reply["detail"], str) and reply["detail"]
            if reply == {"type": "pong", "seq": seq}:
                break

    check()
    assert socket.request({"type": "ping", "seq": 1}) == {"type": "pong", "seq": 1}
    # Whatever was saved on the way is a valid, complete mask with its history.
    for row in Annotation.objects.all():
        mask = rle_decode(row.rle)
        assert mask.shape == (HEIGHT, WIDTH) and mask.any()
        assert row.area == rle_area(row.rle) == int(np.count_nonzero(mask))
        assert row.bbox == rle_bbox(row.rle)
        assert row.client_key is None or isinstance(row.client_key, uuid.UUID)
        assert AnnotationEvent.objects.filter(annotation_id=row.pk).exists()
