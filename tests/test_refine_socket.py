"""Refining a found instance (a Find candidate) over the labeling socket, and saving
Find instances as such: a `prompt` with the instance's `mask` and box is decoded
with the mask as SAM's prompt, later clicks refine that answer as usual, and an
`accept` of an instance's pixels says `"source": "concept"` (the dashboard counts
it as pre-filled). Real consumer, database and tiny SAM model."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest

from inference import Prompt, load_model
from inference.masks import rle_decode, rle_encode
from labeling import embedding_store as embeddings
from labeling.models import Annotation, Image
from tests.api_helpers import api_for
from tests.conftest import Personas
from tests.test_consumer import (  # noqa: F401 - fixtures
    HEIGHT,
    WIDTH,
    LoopThread,
    image,
    masks_for,
    open_socket,
    project,
    runner,
    shared_media,
    tiny_sam,
)

pytestmark = pytest.mark.django_db(transaction=True)

BOX = [60.0, 40.0, 200.0, 160.0]


def instance(shift: int = 0) -> dict[str, Any]:
    """A found instance's mask: an ellipse inside BOX (moved right by `shift`)."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    return rle_encode(((xx - 130 - shift) / 70) ** 2 + ((yy - 100) / 60) ** 2 < 1)


def refine_prompt(seq: int, mask: Any, **extra: Any) -> dict[str, Any]:
    click = {"type": "prompt", "seq": seq, "points": [[130, 100]], "labels": [1], "box": BOX}
    return click | {"mask": mask, **extra}


def test_an_instance_is_refined_with_its_box_and_mask_then_by_clicks(
    runner: LoopThread,  # noqa: F811
    personas: Personas,
    image: Image,  # noqa: F811
    tiny_sam: str,  # noqa: F811
) -> None:
    socket, _ = open_socket(runner, personas.annotator, image)
    seeded = masks_for(socket, refine_prompt(1, instance()))
    assert len(seeded["candidates"]) == 1  # a mask prompt asks for one answer
    # The engine's answer to the same click and box with this instance as the prompt.
    stored = embeddings.read_stored(embeddings.storage_key(image.sha256, tiny_sam))
    assert stored is not None
    model = load_model(tiny_sam)
    embedding = model.embedding_from_bytes(stored)
    expected = model.decode(
        embedding,
        Prompt(
            points=[[130, 100]],
            labels=[1],
            box=BOX,
            mask_logits=model.mask_prompt(embedding, rle_decode(instance())),
        ),
    )
    # Equal up to float rounding (the server's pool runs torch on other threads).
    assert (rle_decode(seeded["candidates"][0]["rle"]) != rle_decode(expected[0].rle)).mean() < 1e-3
    # The instance is what was read: another one gives another answer.
    moved = masks_for(socket, refine_prompt(2, instance(shift=60)))
    assert moved["candidates"][0]["rle"] != seeded["candidates"][0]["rle"]

    # Back on the first instance, a negative click refines its answer as usual.
    masks_for(socket, refine_prompt(3, instance()))
    points = [[130, 100], [80, 60]]
    refined = masks_for(
        socket,
        {"type": "prompt", "seq": 4, "points": points, "labels": [1, 0], "box": BOX}
        | {"refine": 0},
    )
    assert refined["candidates"][0]["rle"] != seeded["candidates"][0]["rle"]
    key = str(uuid.uuid4())
    saved = socket.request({"type": "accept", "seq": 5, "key": key, "candidate": 0, "clicks": 2})
    assert saved["type"] == "saved"
    assert saved["annotation"]["rle"] == refined["candidates"][0]["rle"]
    row = Annotation.objects.get()
    assert (row.source, row.clicks) == ("sam", 2)  # the click model's mask now


def test_bad_mask_prompts_are_refused_and_never_supersede_a_good_one(
    runner: LoopThread,  # noqa: F811
    personas: Personas,
    image: Image,  # noqa: F811
) -> None:
    socket, _ = open_socket(runner, personas.annotator, image)
    wrong_size = rle_encode(np.ones((10, 12), bool))
    empty = rle_encode(np.zeros((HEIGHT, WIDTH), bool))
    cases: list[tuple[Any, dict[str, Any], str, str]] = [
        (wrong_size, {}, "invalid_prompt", f"is 12x10 but the image is {WIDTH}x{HEIGHT}"),
        (empty, {}, "invalid_prompt", "empty"),
        ({"size": [HEIGHT, WIDTH], "counts": "!!"}, {}, "invalid_prompt", "not valid COCO RLE"),
        ("not a mask", {}, "invalid", "COCO RLE object"),
        (instance(), {"refine": 0}, "invalid", "not with `refine` or `hover`"),
        (instance(), {"hover": True}, "invalid", "not with `refine` or `hover`"),
    ]
    for seq, (mask, extra, code, detail) in enumerate(cases, start=1):
        reply = socket.request(refine_prompt(seq, mask, **extra))
        assert reply["type"] == "error" and reply["code"] == code, reply
        assert detail in reply["detail"]
    # Only people who may draw masks may ask: a reviewer's socket is closed.
    reviewer, _ = open_socket(runner, personas.reviewer, image)
    refused = reviewer.request(refine_prompt(1, instance()))
    assert refused["code"] == "forbidden"
    assert masks_for(socket, refine_prompt(20, instance()))["seq"] == 20


def test_find_instances_are_saved_with_the_concept_source(
    runner: LoopThread,  # noqa: F811
    personas: Personas,
    image: Image,  # noqa: F811
) -> None:
    socket, _ = open_socket(runner, personas.annotator, image)
    accept = {"type": "accept", "key": str(uuid.uuid4()), "rle": instance(), "clicks": 0}
    saved = socket.request(accept | {"seq": 1, "source": "concept"})
    assert saved["type"] == "saved" and saved["annotation"]["source"] == "concept"
    drawn = socket.request(accept | {"seq": 2, "key": str(uuid.uuid4()), "rle": instance(40)})
    assert drawn["annotation"]["source"] == "manual"  # pixels without a source: drawn
    for seq, extra in ((3, {"source": "sam"}), (4, {"source": "auto"}), (5, {"source": 1})):
        bad = socket.request(accept | {"seq": seq, "key": str(uuid.uuid4())} | extra)
        assert bad["type"] == "error" and bad["code"] == "invalid", bad
        assert '"manual" or "concept"' in bad["detail"]
    masks_for(socket, {"type": "prompt", "seq": 6, "points": [[100, 80]], "labels": [1]})
    with_candidate = socket.request(
        {"type": "accept", "seq": 7, "key": str(uuid.uuid4()), "candidate": 0}
        | {"source": "concept"}
    )
    assert with_candidate["code"] == "invalid" and "candidate" in with_candidate["detail"]
    assert sorted(Annotation.objects.values_list("source", flat=True)) == ["concept", "manual"]

    # The API lists them by source, and the dashboard counts them as pre-filled.
    pk = image.project_id
    listed = api_for(personas.owner).get(f"/projects/{pk}/annotations", source="concept").json()
    assert [a["id"] for a in listed["items"]] == [saved["annotation"]["id"]]
    page = personas.client("owner").get(f"/projects/{pk}/dashboard/")
    assert page.context["origins"]["prefill"].masks == 1
    assert page.context["origins"]["hand"].masks == 1
