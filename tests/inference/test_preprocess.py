"""Pre-processing parity: our numpy/Pillow code against transformers' processors.

transformers' SAM processor runs without torchvision when given its Pillow image
processor, so SAM is compared with it directly. Its SAM 2 image processor needs
torchvision, so SAM 2 images are checked against the published formula (resize to
1024x1024, antialiased bilinear, then ImageNet normalisation) computed with torch,
and SAM 2 coordinates against `Sam2Processor`'s own normalisation code.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import SamProcessor
from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil
from transformers.models.sam2.processing_sam2 import Sam2Processor

from inference import ImageError
from inference.preprocess import (
    check_image,
    longest_side_shape,
    preprocess_sam,
    preprocess_sam2,
    to_model_coords,
)

SIZES = [(300, 500), (768, 1024), (1500, 2000), (50, 100), (900, 301), (1024, 1024)]


def _image(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Smooth structure plus noise, so resampling differences would show.
    yy, xx = np.mgrid[0:height, 0:width]
    base = (np.stack([xx * 255 / width, yy * 255 / height, (xx + yy) % 256], -1)).astype(np.uint8)
    return base // 2 + rng.integers(0, 128, (height, width, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def sam_processor() -> SamProcessor:
    return SamProcessor(image_processor=SamImageProcessorPil())


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_sam_pixels_match_transformers(
    sam_processor: SamProcessor, height: int, width: int
) -> None:
    image = _image(height, width)
    ours, input_size = preprocess_sam(image, 1024)
    theirs = sam_processor(images=image, return_tensors="pt")
    assert input_size == tuple(theirs["reshaped_input_sizes"][0].tolist())
    assert ours.shape == (3, 1024, 1024) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs["pixel_values"][0].numpy(), atol=2e-5)
    # The padding is exactly zero (the normalised mean colour).
    assert not ours[:, input_size[0] :, :].any() and not ours[:, :, input_size[1] :].any()


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_sam_coordinates_match_transformers(
    sam_processor: SamProcessor, height: int, width: int
) -> None:
    image = _image(height, width)
    points = [[0.0, 0.0], [width / 3, height / 2], [float(width), float(height)]]
    box = [width * 0.1, height * 0.2, width * 0.9, height * 0.7]
    theirs = sam_processor(
        images=image, input_points=[[points]], input_boxes=[[box]], return_tensors="pt"
    )
    input_size = longest_side_shape(height, width, 1024)
    ours_points = to_model_coords(np.array(points), (height, width), input_size)
    ours_box = to_model_coords(np.array(box).reshape(2, 2), (height, width), input_size)
    np.testing.assert_allclose(ours_points, theirs["input_points"][0, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours_box.reshape(4), theirs["input_boxes"][0, 0].numpy(), rtol=1e-6)


def test_longest_side_rounds_half_up_like_sam() -> None:
    assert longest_side_shape(600, 900, 1024) == (683, 1024)  # 682.67 -> 683
    assert longest_side_shape(2048, 1000, 1024) == (1024, 500)
    assert longest_side_shape(10, 10, 1024) == (1024, 1024)
    assert longest_side_shape(1, 5000, 1024) == (1, 1024)  # never a 0-pixel side


@pytest.mark.parametrize(("height", "width"), [(300, 500), (1500, 2000), (1024, 1024)])
def test_sam2_pixels_follow_the_published_formula(height: int, width: int) -> None:
    image = _image(height, width, seed=1)
    ours, input_size = preprocess_sam2(image, 1024)
    assert input_size == (1024, 1024) and ours.shape == (3, 1024, 1024)
    as_float = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    resized = F.interpolate(as_float, (1024, 1024), mode="bilinear", antialias=True)[0]
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    expected = ((resized - mean) / std).numpy()
    # Pillow resamples in 8-bit, torch in float: allow a couple of grey levels
    # (1/255/0.225 = 0.0174 per level), and require near-identity on average.
    diff = np.abs(ours - expected)
    assert diff.max() < 3 * 0.0175
    assert diff.mean() < 0.01


def test_normalisation_is_exact_for_a_flat_colour() -> None:
    image = np.empty((40, 60, 3), np.uint8)
    image[...] = (124, 116, 104)
    pixels, _ = preprocess_sam2(image, 1024)
    expected = (np.array([124, 116, 104]) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(pixels[:, 500, 500], expected, atol=1e-5)


@pytest.mark.parametrize(("height", "width"), [(300, 500), (1024, 768)])
def test_sam2_coordinates_match_transformers(height: int, width: int) -> None:
    coords = torch.tensor([[0.0, 0.0], [width / 3, height / 2], [float(width), float(height)]])
    # The processor's coordinate code needs no image processor (and so no torchvision).
    theirs = Sam2Processor._normalize_coordinates(None, 1024, coords, (height, width))  # type: ignore[arg-type]
    ours = to_model_coords(coords.numpy(), (height, width), (1024, 1024))
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([[1, 2, 3]], "numpy array"),
        (np.zeros((10, 10), np.uint8), "H x W x 3"),
        (np.zeros((10, 10, 4), np.uint8), "H x W x 3"),
        (np.zeros((10, 10, 3), np.float32), "uint8"),
        (np.zeros((0, 10, 3), np.uint8), "empty"),
    ],
)
def test_it_rejects_bad_images(value: object, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        check_image(value)
