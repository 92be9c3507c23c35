"""A GPU that is full right now is a reason to retry, not to fail the image for good."""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch
from PIL import Image as PILImage

from inference import DeviceOutOfMemoryError, ModelUnavailableError
from inference.loading import device_error
from labeling.jobs.embedding import RetryLater, _failed, is_transient
from labeling.models import EmbeddingStatus, Image
from labeling.services.projects import do_create_project
from labeling.services.uploads import do_add_image
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def _image(settings: Any, tmp_path: Any) -> Image:
    settings.MEDIA_ROOT = str(tmp_path)
    owner = make_user("owner")
    project = do_create_project(owner, name="P")
    picture = io.BytesIO()
    PILImage.new("RGB", (32, 24), (10, 20, 30)).save(picture, format="PNG")
    picture.seek(0)
    return do_add_image(project, owner, picture, "a.png")


def test_out_of_memory_moving_the_model_is_transient() -> None:
    cuda_full = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    error = device_error("sam-vit-base", torch.device("cuda"), cuda_full)
    assert isinstance(error, DeviceOutOfMemoryError) and is_transient(error)
    assert "will retry" in str(error)


def test_other_failures_moving_the_model_stay_permanent() -> None:
    error = device_error("sam-vit-base", torch.device("cuda:3"), RuntimeError("invalid device"))
    assert isinstance(error, ModelUnavailableError) and not is_transient(error)


def test_an_image_whose_model_found_the_gpu_full_waits_for_a_retry(
    settings: Any, tmp_path: Any
) -> None:
    image = _image(settings, tmp_path)
    full = device_error("sam-vit-base", torch.device("cuda"), torch.OutOfMemoryError("CUDA OOM"))
    with pytest.raises(RetryLater):
        _failed(image, full, retries=0, max_retries=5)
    row = Image.objects.get(pk=image.pk)
    assert row.embedding_status == EmbeddingStatus.PENDING
    assert row.embedding_error.startswith("Will retry in")


def test_an_image_whose_model_is_missing_fails_at_once(settings: Any, tmp_path: Any) -> None:
    image = _image(settings, tmp_path)
    _failed(image, ModelUnavailableError("no such model"), retries=0, max_retries=5)
    row = Image.objects.get(pk=image.pk)
    assert row.embedding_status == EmbeddingStatus.FAILED
    assert row.embedding_error == "no such model"
