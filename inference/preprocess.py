"""Image and coordinate pre-processing for SAM and SAM 2 (numpy + Pillow, no torchvision).

SAM resizes the longest side to 1024 (keeping the aspect ratio), normalises with
the ImageNet mean and std scaled to 0..255, and pads bottom and right with zeros to
1024x1024. SAM 2 resizes straight to 1024x1024 (no padding) and normalises the same
way. Prompt coordinates are scaled by the same factors as the image.

Resizing is Pillow's antialiased bilinear filter on the uint8 image, the filter
transformers' `SamImageProcessorPil` and segment-anything's `ResizeLongestSide` use.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .errors import ImageError

IMAGENET_MEAN_255 = np.array([0.485, 0.456, 0.406], np.float32) * 255
IMAGENET_STD_255 = np.array([0.229, 0.224, 0.225], np.float32) * 255

MAX_IMAGE_PIXELS = 200_000_000
"""Refuse larger images: their upsampled masks alone would not fit in memory."""


def check_image(image: object) -> np.ndarray:
    """Return `image` if it is an HxWx3 uint8 RGB array of sane size, else raise `ImageError`."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f"an image must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ImageError(f"an image must be H x W x 3 (RGB), got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ImageError(f"an image must be uint8, got {image.dtype}")
    height, width = image.shape[:2]
    if height < 1 or width < 1:
        raise ImageError(f"an image must not be empty, got {width}x{height}")
    if height * width > MAX_IMAGE_PIXELS:
        raise ImageError(f"image of {width}x{height} pixels is larger than {MAX_IMAGE_PIXELS}")
    return image


def longest_side_shape(height: int, width: int, longest: int) -> tuple[int, int]:
    """(h, w) after scaling so the longer side is `longest`, rounded half up like SAM.

    A side never shrinks to 0 (SAM's formula would for a 1x5000 strip).
    """
    scale = longest / max(height, width)
    return max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5))


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear (antialiased) resize of an HxWx3 uint8 image to `shape` = (h, w)."""
    if image.shape[:2] == shape:
        return image
    pil = Image.fromarray(np.ascontiguousarray(image))
    return np.asarray(pil.resize((shape[1], shape[0]), resample=Image.Resampling.BILINEAR))


def normalize(image: np.ndarray, pad_to: int | None = None) -> np.ndarray:
    """(3, H, W) float32 of (pixel - mean) / std, zero-padded bottom/right to `pad_to`."""
    height, width = image.shape[:2]
    size_h, size_w = (pad_to, pad_to) if pad_to else (height, width)
    out = np.zeros((3, size_h, size_w), np.float32)
    # Normalise channel by channel straight into the padded buffer: no HxWx3 float copy.
    for c in range(3):
        channel = out[c, :height, :width]
        np.subtract(image[:, :, c], IMAGENET_MEAN_255[c], out=channel, dtype=np.float32)
        channel /= IMAGENET_STD_255[c]
    return out


def preprocess_sam(image: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """SAM input: (3, size, size) float32 and the (h, w) of the image inside the padding."""
    input_size = longest_side_shape(image.shape[0], image.shape[1], size)
    return normalize(resize(image, input_size), pad_to=size), input_size


def preprocess_sam2(image: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """SAM 2 input: (3, size, size) float32 (aspect ratio not kept) and (size, size)."""
    return normalize(resize(image, (size, size))), (size, size)


def to_model_coords(
    coords: np.ndarray, original_size: tuple[int, int], input_size: tuple[int, int]
) -> np.ndarray:
    """Scale (..., 2) x, y pixel coordinates of the original image into model input space."""
    scale = np.array(
        [input_size[1] / original_size[1], input_size[0] / original_size[0]], np.float64
    )
    return (np.asarray(coords, np.float64) * scale).astype(np.float32)
