"""The HTTP side of the labeling page: the display image and moving between images.
(Plain Django test client; the browser tests are in test_labeling.py.)"""

from __future__ import annotations

import io
import os
from typing import Any

import pytest
from PIL import Image as PILImage

from labeling.models import Image, LabelingStatus
from labeling.services.uploads import do_add_image
from tests.conftest import Personas, image_bytes

pytestmark = pytest.mark.django_db


def add(personas: Personas, data: bytes, name: str) -> Image:
    return do_add_image(personas.project, personas.owner, io.BytesIO(data), name)


def display(personas: Personas, image: Image, who: str = "annotator") -> Any:
    url = f"/projects/{personas.project.pk}/images/{image.pk}/display"
    return personas.client(who).get(url)


def test_it_serves_a_browser_format_as_is(personas: Personas) -> None:
    image = add(personas, image_bytes("PNG"), "a.png")
    response = display(personas, image)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == image.file.open("rb").read()


def test_it_converts_tiff_once_and_caches_it_by_content_hash(
    personas: Personas, settings: Any
) -> None:
    image = add(personas, image_bytes("TIFF", (50, 30)), "a.tif")
    response = display(personas, image)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    shown = PILImage.open(io.BytesIO(b"".join(response.streaming_content)))
    assert shown.format == "PNG" and shown.size == (50, 30)
    cached = f"{settings.MEDIA_ROOT}/projects/{personas.project.pk}/display/{image.sha256}.png"
    stamp = os.stat(cached).st_mtime_ns
    assert display(personas, image).status_code == 200
    assert os.stat(cached).st_mtime_ns == stamp  # served, not redone


def test_it_applies_exif_orientation_so_pixels_match_mask_coordinates(
    personas: Personas,
) -> None:
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    image = add(personas, image_bytes("JPEG", (60, 40), exif=exif.tobytes()), "r.jpg")
    assert (image.width, image.height) == (40, 60)
    response = display(personas, image)
    shown = PILImage.open(io.BytesIO(b"".join(response.streaming_content)))
    assert shown.size == (40, 60)


def test_it_hides_images_from_outsiders(personas: Personas) -> None:
    image = add(personas, image_bytes("TIFF"), "a.tif")
    assert display(personas, image, "outsider").status_code == 404
    page = f"/projects/{personas.project.pk}/images/{image.pk}/label/"
    assert personas.client("outsider").get(page).status_code == 404
    assert personas.client("reviewer").get(page).status_code == 200


def test_it_moves_to_neighbours_and_the_next_unlabeled_image(personas: Personas) -> None:
    first, second, third = (
        add(personas, image_bytes(color=(i * 40, 10, 10)), f"{i}.png") for i in range(3)
    )
    Image.objects.filter(pk=second.pk).update(labeling_status=LabelingStatus.SUBMITTED)
    client = personas.client("annotator")
    base = f"/projects/{personas.project.pk}"

    def go(image: Image, which: str) -> str:
        response = client.get(f"{base}/images/{image.pk}/label/{which}")
        assert response.status_code == 302
        return str(response["Location"])

    assert go(first, "next") == f"{base}/images/{second.pk}/label/"
    assert go(third, "prev") == f"{base}/images/{second.pk}/label/"
    assert go(third, "next") == f"{base}/images/{third.pk}/label/"  # the last stays put
    assert go(first, "next-unlabeled") == f"{base}/images/{third.pk}/label/"
    assert go(third, "next-unlabeled") == f"{base}/images/{first.pk}/label/"  # wraps
    assert client.get(f"{base}/images/{first.pk}/label/sideways").status_code == 404
    assert client.get(f"{base}/label/")["Location"] == f"{base}/images/{first.pk}/label/"
