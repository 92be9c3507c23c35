"""Choosing a project's model and the model management commands."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from django.core.management import CommandError, call_command
from django.urls import reverse

from inference.loading import dtype_for
from inference.testing import save_tiny_sam
from labeling.models import EmbeddingStatus, Image, Project
from labeling.services.uploads import do_add_image
from tests.conftest import Personas, drain_queue, image_bytes


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny_sam(tmp_path_factory.mktemp("tiny-sam")))


def run(*args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def test_model_info_describes_a_local_checkpoint(tiny_sam: str) -> None:
    info = json.loads(run("model_info", tiny_sam, "--json"))
    assert info["spec"] == tiny_sam and info["family"] == "sam"
    expected = str(dtype_for(torch.device("cpu"))).removeprefix("torch.")  # bf16 if native
    assert info["device"] == "cpu" and info["dtype"] == expected
    assert info["parameters"] > 0 and info["load_seconds"] >= 0


def test_fetch_model_accepts_a_local_checkpoint(tiny_sam: str) -> None:
    assert f"{tiny_sam} is ready" in run("fetch_model", tiny_sam)


def test_model_commands_explain_an_unknown_spec(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="neither a known model nor an existing directory"):
        run("fetch_model", "sam-vit-gigantic")
    with pytest.raises(CommandError, match=r"not SAM or SAM 2|no config\.json"):
        run("model_info", str(tmp_path))


@pytest.mark.django_db(transaction=True)
def test_embed_missing_queues_pending_and_failed_images(
    personas: Personas, embedding_queue: str
) -> None:
    images = [
        do_add_image(
            personas.project, personas.owner, io.BytesIO(image_bytes(color=(c, 0, 0))), f"{c}.png"
        )
        for c in (1, 2, 3, 4)
    ]
    drain_queue(embedding_queue)  # forget the uploads' own messages
    Image.objects.filter(pk=images[0].pk).update(embedding_status=EmbeddingStatus.READY)
    Image.objects.filter(pk=images[1].pk).update(
        embedding_status=EmbeddingStatus.FAILED, embedding_error="boom", embedding_attempts=3
    )
    Image.objects.filter(pk=images[2].pk).update(embedding_status=EmbeddingStatus.RUNNING)
    assert "Queued 2 images" in run("embed_missing")
    queued = sorted(args[0] for _, args in drain_queue(embedding_queue))
    assert queued == [images[1].pk, images[3].pk]
    failed = Image.objects.get(pk=images[1].pk)
    assert (failed.embedding_status, failed.embedding_error, failed.embedding_attempts) == (
        "pending",
        "",
        0,
    )
    assert "Queued 3 images" in run("embed_missing", include_running=True)
    assert "Queued 0 images" in run("embed_missing", project=personas.project.pk + 999)


def test_project_settings_offer_only_allowed_models(
    personas: Personas, settings: Any, tiny_sam: str
) -> None:
    settings.ANYMASK_EXTRA_MODELS = [tiny_sam]
    client = personas.client("owner")
    url = reverse("project-settings", args=[personas.project.pk])
    page = client.get(url).content.decode()
    assert "sam-vit-base" in page and "sam2.1-hiera-tiny" in page and tiny_sam in page
    # A path the operator did not allow is refused, whatever it points at.
    response = client.post(url, {"name": "Streets", "description": "", "model_spec": "/etc"})
    assert response.status_code == 400
    personas.project.refresh_from_db()
    assert personas.project.model_spec != "/etc"


@pytest.mark.django_db(transaction=True)
def test_changing_the_model_resets_and_requeues_embeddings(
    personas: Personas, settings: Any, tiny_sam: str, embedding_queue: str
) -> None:
    settings.ANYMASK_EXTRA_MODELS = [tiny_sam]
    image = do_add_image(personas.project, personas.owner, io.BytesIO(image_bytes()), "a.png")
    Image.objects.filter(pk=image.pk).update(embedding_status=EmbeddingStatus.READY)
    drain_queue(embedding_queue)
    client = personas.client("owner")
    url = reverse("project-settings", args=[personas.project.pk])
    response = client.post(
        url, {"name": "Streets 2", "description": "d", "model_spec": tiny_sam}, follow=True
    )
    assert "Re-encoding 1 image with the new model." in response.content.decode()
    project = Project.objects.get(pk=personas.project.pk)
    assert (project.name, project.model_spec) == ("Streets 2", tiny_sam)
    assert Image.objects.get(pk=image.pk).embedding_status == "pending"
    assert drain_queue(embedding_queue) == [("labeling.tasks.compute_embedding", [image.pk])]
    # Saving again without a model change queues nothing.
    client.post(url, {"name": "Streets 3", "description": "d", "model_spec": tiny_sam})
    assert drain_queue(embedding_queue) == []


@pytest.mark.django_db(transaction=True)
def test_auto_segment_stores_proposals_and_replaces_old_ones(
    personas: Personas, tiny_sam: str
) -> None:
    from labeling.models import Annotation
    from labeling.tasks import auto_segment
    from tests.test_embedding_worker import picture

    project = personas.project
    project.model_spec = tiny_sam
    project.save()
    image = do_add_image(project, personas.owner, picture(21), "a.png")
    # Random weights predict low quality, so open the quality filters wide.
    loose = {
        "points_per_side": 8,
        "pred_iou_thresh": 0.0,
        "stability_score_thresh": 0.0,
        "min_region_area": 0,
    }
    first = auto_segment.apply(args=[image.pk], kwargs=loose).get()
    proposals = Annotation.objects.filter(image=image)
    assert first > 0 and proposals.count() == first
    assert {(a.status, a.source) for a in proposals} == {("proposed", "auto")}
    assert all(a.area > 0 and a.rle["size"] == [image.height, image.width] for a in proposals)
    image.refresh_from_db()
    assert image.labeling_status == "unlabeled"  # proposals are not human work yet

    second = auto_segment.apply(args=[image.pk], kwargs=loose).get()
    assert Annotation.objects.filter(image=image).count() == second  # replaced, not added
    assert auto_segment.apply(args=[image.pk + 999]).get() == 0  # a vanished image
