"""Concept queries over the labeling socket, answered by a real Celery worker process
(the `concepts` queue) with a tiny random SAM 3: results with scores, the latest
query wins, refusals, and a clear message when no worker answers in time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inference.concepts.testing import save_tiny_sam3
from labeling.models import ConceptQuery, EmbeddingStatus, Image, Project
from labeling.services.annotations import do_create_annotation
from labeling.services.uploads import do_add_image
from tests.api_helpers import api_for
from tests.conftest import Personas, drain_queue
from tests.test_consumer import LoopThread, Socket, headers_for, open_socket
from tests.test_embedding_worker import picture
from tests.worker_process import Worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def tiny_sam3(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny_sam3(tmp_path_factory.mktemp("models") / "tiny-sam3", image_size=56))


@pytest.fixture(scope="module")
def shared_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def worker(
    django_db_setup: None,
    django_db_blocker: Any,
    shared_media: Path,
    tiny_sam3: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Worker]:
    from django.conf import settings

    drain_queue(settings.CELERY_QUEUE_CONCEPTS)
    env = {"ANYMASK_CONCEPT_MODEL": tiny_sam3, "ANYMASK_CONCEPT_CACHE_MB": "4"}
    running = Worker(shared_media, tmp_path_factory.mktemp("worker") / "worker.log", env=env)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def runner() -> Iterator[LoopThread]:
    running = LoopThread()
    yield running
    running.close()


@pytest.fixture
def image(personas: Personas, tiny_sam3: str, shared_media: Path, settings: Any) -> Image:
    settings.MEDIA_ROOT = str(shared_media)
    settings.ANYMASK_CONCEPT_MODEL = tiny_sam3
    Project.objects.filter(pk=personas.project.pk).update(concepts_enabled=True)
    added = do_add_image(personas.project, personas.owner, picture(5, (112, 84)), "a.png")
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)  # concept queries need no SAM embedding
    # Out of the embedding sweep's reach too: the worker would try the project's default
    # SAM model (not on this machine) and push its failure to the socket mid-test.
    Image.objects.filter(pk=added.pk).update(
        embedding_status=EmbeddingStatus.FAILED, embedding_error="not needed here"
    )
    return added


def query(seq: int, *phrases: str, **extra: Any) -> dict[str, Any]:
    return {"type": "concept", "seq": seq, "phrases": list(phrases), "threshold": 0, **extra}


def answer(socket: Socket, message: dict[str, Any]) -> dict[str, Any]:
    """The reply to `message`, past any push (a mask saved, the embedding's status)
    that arrives first."""
    socket.send(message)
    while (reply := socket.receive(timeout=60)).get("seq") != message["seq"]:
        pass
    return reply


def results(socket: Socket, seq: int) -> list[dict[str, Any]]:
    reply = socket.receive(timeout=120)
    while reply.get("type") == "embedding":  # the image's own status, pushed at any time
        reply = socket.receive(timeout=120)
    assert reply["type"] == "concept_results" and reply["seq"] == seq, reply
    return list(reply["instances"])


def test_no_worker_in_time_gives_a_clear_message(
    runner: LoopThread, personas: Personas, image: Image, settings: Any
) -> None:
    # First in the module: no worker is running yet, so nobody answers.
    settings.ANYMASK_CONCEPT_TIMEOUT_SECONDS = 1
    socket, _ = open_socket(runner, personas.annotator, image)
    assert socket.request(query(1, "dog")) == {"type": "concept_queued", "seq": 1}
    reply = socket.receive(timeout=10)
    assert reply["type"] == "error" and reply["code"] == "concept_timeout", reply
    assert "concepts" in reply["detail"] and "1 s" in reply["detail"]
    drain_queue(settings.CELERY_QUEUE_CONCEPTS)


def test_a_phrase_finds_instances_with_scores_on_the_worker(
    worker: Worker, runner: LoopThread, personas: Personas, image: Image
) -> None:
    socket, _ = open_socket(runner, personas.annotator, image)
    assert socket.request(query(3, "dog")) == {"type": "concept_queued", "seq": 3}
    found = results(socket, 3)
    assert found, "threshold 0 keeps every de-duplicated instance"
    scores = [i["score"] for i in found]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert all(i["rle"]["size"] == [84, 112] and len(i["box"]) == 4 for i in found)
    # A box-only query (a positive exemplar) works too.
    socket.send(query(4, exemplars=[[10, 10, 60, 50, True]]))
    assert socket.receive()["type"] == "concept_queued"
    assert isinstance(results(socket, 4), list)
    assert not ConceptQuery.objects.exists()  # answered rows are removed

    # Saved masks are never offered again: a copy of an instance is hidden.
    do_create_annotation(image, personas.owner, rle=found[0]["rle"], source="manual")
    assert answer(socket, query(5, "dog"))["type"] == "concept_queued"
    assert found[0]["rle"] not in [i["rle"] for i in results(socket, 5)]


def test_the_latest_query_wins(
    worker: Worker, runner: LoopThread, personas: Personas, image: Image
) -> None:
    socket, _ = open_socket(runner, personas.annotator, image)
    for seq, phrase in ((10, "dog"), (11, "car"), (12, "tree")):
        socket.send(query(seq, phrase))
        assert socket.receive() == {"type": "concept_queued", "seq": seq}
    results(socket, 12)  # the superseded 10 and 11 never answer
    assert socket.quiet(1.5)


def test_refusals(
    worker: Worker, runner: LoopThread, personas: Personas, image: Image, settings: Any
) -> None:
    reviewer, _ = open_socket(runner, personas.reviewer, image)
    reply = answer(reviewer, query(1, "dog"))
    assert reply["code"] == "forbidden"  # reviewers do not annotate
    outsider = Socket(runner, image.pk, headers_for(personas.outsider))
    assert not outsider.connect()[0]  # a foreign image: refused at the handshake

    socket, _ = open_socket(runner, personas.annotator, image)
    too_many = query(2, "a", "b", "c", "d", "e")
    assert socket.request(too_many)["code"] == "invalid"
    outside = query(3, exemplars=[[0, 0, 500, 500, True]])
    assert "inside the image" in socket.request(outside)["detail"]
    assert socket.request(query(4))["code"] == "invalid"  # neither phrase nor box
    Project.objects.filter(pk=personas.project.pk).update(concepts_enabled=False)
    reply = socket.request(query(5, "dog"))
    assert reply["code"] == "concepts_unavailable"
    assert "off for this project" in reply["detail"]
    Project.objects.filter(pk=personas.project.pk).update(concepts_enabled=True)
    settings.ANYMASK_CONCEPT_MODEL = ""
    reply = socket.request(query(6, "dog"))
    assert reply["code"] == "concepts_unavailable" and "configured" in reply["detail"]
    assert not ConceptQuery.objects.exists()


def test_the_api_query_returns_the_workers_instances(
    worker: Worker, personas: Personas, image: Image
) -> None:
    path = f"/projects/{personas.project.pk}/images/{image.pk}/concepts"
    body = {"phrases": ["dog"], "threshold": 0}
    assert api_for(personas.reviewer).call("POST", path, body).status_code == 403
    assert api_for(personas.outsider).call("POST", path, body).status_code == 404
    reply = api_for(personas.annotator).call("POST", path, body)
    assert reply.status_code == 200, reply.content
    assert reply.json()["instances"] and "score" in reply.json()["instances"][0]
    bad = api_for(personas.annotator).call("POST", path, {"phrases": ["x"] * 9})
    assert bad.status_code == 400 and "At most" in bad.json()["detail"]
