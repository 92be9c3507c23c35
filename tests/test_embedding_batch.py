"""A worker that may batch (ANYMASK_EMBED_BATCH, forced here on a CPU) encodes
claimed pending images together (labeling/jobs/embedding_batch.py). Real tiny SAM
model, real storage, real in-memory channel layer."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.files.base import ContentFile

from inference import load_model
from inference.testing import save_tiny_sam
from labeling import embedding_store
from labeling.events import project_group
from labeling.imaging import model_input
from labeling.jobs.embedding import embed_image
from labeling.models import EmbeddingStatus, Image, Project
from labeling.services.projects import do_create_project
from labeling.services.uploads import do_add_image
from tests.conftest import image_bytes, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(settings: Any, tmp_path: Path) -> Project:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.ANYMASK_EMBED_BATCH = 3
    owner = make_user("owner")
    made = do_create_project(owner, name="Batch")
    made.model_spec = str(save_tiny_sam(tmp_path / "tiny-sam"))
    made.save()
    return made


def add(project: Project, index: int) -> Image:
    colors = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (90, 90, 10)]
    data = image_bytes(size=(40 + 8 * index, 32), color=colors[index])
    assert project.created_by is not None
    return do_add_image(project, project.created_by, io.BytesIO(data), f"{index}.png")


def status_events(project: Project) -> tuple[Any, str]:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(project_group(project.pk), channel)
    return layer, channel


def received(layer: Any, channel: str) -> list[dict[str, Any]]:
    async def drain() -> list[dict[str, Any]]:
        events = []
        while True:
            try:
                events.append(await asyncio.wait_for(layer.receive(channel), 0.2))
            except TimeoutError:
                return events

    return async_to_sync(drain)()


def stored(model: Any, image: Image) -> Any:
    """The embedding as stored (not the worker's cached copy)."""
    return embedding_store.read(model, image.sha256, cached=False)


def test_a_batch_of_three_stores_what_one_at_a_time_would(project: Project) -> None:
    images = [add(project, index) for index in range(3)]
    layer, channel = status_events(project)
    assert embed_image(images[0].pk, retries=0, max_retries=3) == "computed"
    model = load_model(project.model_spec)
    for image in images:
        row = Image.objects.get(pk=image.pk)
        assert row.embedding_status == EmbeddingStatus.READY
        assert (row.embedding_lease_owner, row.embedding_lease_expires) == ("", None)
        with row.file.open("rb") as handle:
            alone = model.encode(model_input(handle))
        batched = stored(model, row)
        for name, tensor in alone.tensors.items():
            np.testing.assert_allclose(
                batched.tensors[name].float().numpy(), tensor.float().numpy(), atol=2e-2
            )
    events = [e for e in received(layer, channel) if e.get("type") == "image.status"]
    for image in images:
        mine = [e["embedding"] for e in events if e["image"] == image.pk]
        assert mine == ["running", "ready"], events
    # The claimed images' own tasks find their embeddings stored.
    assert embed_image(images[1].pk, retries=0, max_retries=3) == "exists"


def test_one_bad_image_in_a_batch_fails_alone(project: Project) -> None:
    good = add(project, 0)
    bad = add(project, 1)
    assert bad.file.name is not None
    bad.file.storage.delete(bad.file.name)
    bad.file.storage.save(bad.file.name, ContentFile(b"not an image at all"))
    other = add(project, 2)
    assert embed_image(good.pk, retries=0, max_retries=3) == "computed"
    rows = {row.pk: row for row in Image.objects.all()}
    assert rows[good.pk].embedding_status == EmbeddingStatus.READY
    assert rows[other.pk].embedding_status == EmbeddingStatus.READY
    # An unreadable file is an OSError, which may pass (storage hiccup): back to
    # pending for its own queued task, which retries it as it would alone.
    assert rows[bad.pk].embedding_status == EmbeddingStatus.PENDING
    assert rows[bad.pk].embedding_error.startswith("Will retry")
    assert all(row.embedding_lease_owner == "" for row in rows.values())
    assert rows[bad.pk].embedding_attempts == 0  # an error we saw, not a dead worker
    # Its own task, on its last retry, fails it for good; the others stay ready.
    assert embed_image(bad.pk, retries=3, max_retries=3).startswith("failed")
    rows = {row.pk: row for row in Image.objects.all()}
    assert rows[bad.pk].embedding_status == EmbeddingStatus.FAILED
    assert rows[good.pk].embedding_status == rows[other.pk].embedding_status == "ready"


def test_a_leased_image_is_not_claimed(project: Project) -> None:
    from labeling.jobs import embedding_lease

    first, held = add(project, 0), add(project, 1)
    assert embedding_lease.try_take(held.pk, "another-worker")
    assert embed_image(first.pk, retries=0, max_retries=3) == "computed"
    row = Image.objects.get(pk=held.pk)
    assert row.embedding_status == EmbeddingStatus.PENDING
    assert row.embedding_lease_owner == "another-worker"
