"""The project page: thumbnails with statuses, counts, and a live status feed."""

from __future__ import annotations

import io

from django.urls import reverse

from labeling.models import EmbeddingStatus, Image, LabelingStatus
from labeling.services.uploads import do_add_image
from tests.conftest import Personas, image_bytes


def add(personas: Personas, name: str, shade: int) -> Image:
    data = io.BytesIO(image_bytes(color=(shade, shade, shade)))
    return do_add_image(personas.project, personas.owner, data, name)


def test_project_page_shows_thumbnails_statuses_and_counts(personas: Personas) -> None:
    first, second, third = (add(personas, f"{n}.png", n) for n in (1, 2, 3))
    Image.objects.filter(pk=second.pk).update(
        labeling_status=LabelingStatus.SUBMITTED, embedding_status=EmbeddingStatus.READY
    )
    Image.objects.filter(pk=third.pk).update(
        labeling_status=LabelingStatus.APPROVED,
        embedding_status=EmbeddingStatus.FAILED,
        embedding_error="CUDA out of memory",
    )
    page = personas.client("annotator").get(reverse("project-detail", args=[personas.project.pk]))
    html = page.content.decode()
    for image in (first, second, third):
        assert reverse("image-thumbnail", args=[personas.project.pk, image.pk]) in html
    assert html.count('class="tile"') == 3
    assert 'data-count="images">3<' in html
    assert 'data-count="labeled">2<' in html
    assert 'data-count="reviewed">1<' in html
    assert "embedding failed" in html and "CUDA out of memory" in html
    # Annotators do not get the admin tabs.
    assert reverse("image-upload-page", args=[personas.project.pk]) not in html


def test_status_feed_reports_counts_and_each_image(personas: Personas) -> None:
    image = add(personas, "a.png", 9)
    Image.objects.filter(pk=image.pk).update(embedding_status=EmbeddingStatus.RUNNING)
    url = reverse("project-status", args=[personas.project.pk])
    data = personas.client("reviewer").get(url).json()
    assert data["counts"]["images"] == 1
    assert data["images"] == [
        {
            "id": image.pk,
            "labeling": "unlabeled",
            "embedding": "running",
            "embedding_error": "",
            "claimed_by": None,
            "viewers": [],
        }
    ]


def test_thumbnail_and_file_are_served_to_members(personas: Personas) -> None:
    image = add(personas, "a.png", 3)
    client = personas.client("reviewer")
    original = client.get(reverse("image-file", args=[personas.project.pk, image.pk]))
    assert original["Content-Type"] == "image/png"
    assert b"".join(original.streaming_content) == image_bytes(color=(3, 3, 3))  # type: ignore[attr-defined]
    assert "private" in original["Cache-Control"]
    thumb = client.get(reverse("image-thumbnail", args=[personas.project.pk, image.pk]))
    assert thumb["Content-Type"] == "image/jpeg"


def test_empty_project_invites_the_admin_to_upload(personas: Personas) -> None:
    html = personas.client("owner").get(reverse("project-detail", args=[personas.project.pk]))
    assert b"No images yet" in html.content and b"Upload some" in html.content
