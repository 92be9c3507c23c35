"""All image decoding: checking uploads, thumbnails, display copies, model input.

Everything here works on an open binary file and never trusts the file name or
the browser's content type: the bytes decide. Orientation is always the EXIF one
applied (masks are in the coordinates of the image as displayed), and every full
decode takes one of the process's few decode slots: a 100 MP image decodes to
~400 MB, and a burst of uploads or conversions must not decode many at once.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from dataclasses import dataclass
from typing import IO

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP")
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".dib"}
)
EXTENSION_FOR_FORMAT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "TIFF": "tif", "BMP": "bmp"}
CONTENT_TYPE_FOR_FORMAT = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
    "BMP": "image/bmp",
}
# EXIF orientations 5-8 rotate by 90 degrees, so the displayed width is the stored height.
_TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}
EXIF_ORIENTATION_TAG = 0x0112
# A TIFF can declare any number of pages; each must be inspected, so bound the count.
MAX_FRAMES = 1000
# Decoding a 100 MP image takes up to ~400 MB; cap how many one process decodes at once.
DECODE_SLOTS = threading.BoundedSemaphore(2)
# Formats and modes every browser draws as-is; anything else (TIFF, 16-bit PNG) is
# converted for display.
BROWSER_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP"})
BROWSER_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA"})


class ImageRefused(Exception):
    """The upload is not an acceptable image. The message is shown to the user."""


@dataclass(frozen=True)
class CheckedImage:
    format: str
    width: int  # as displayed, after EXIF orientation
    height: int
    sha256: str
    byte_size: int
    thumbnail_jpeg: bytes

    @property
    def extension(self) -> str:
        return EXTENSION_FOR_FORMAT[self.format]


def sha256_of(fp: IO[bytes]) -> tuple[str, int]:
    fp.seek(0)
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: fp.read(1024 * 1024), b""):
        digest.update(chunk)
        size += len(chunk)
    fp.seek(0)
    return digest.hexdigest(), size


def check_image(fp: IO[bytes], *, max_pixels: int, thumbnail_size: int) -> CheckedImage:
    """Validate an image file and return what we store about it.

    Raises ImageRefused for anything that is not a complete JPEG, PNG, WebP, TIFF or
    BMP within the pixel limit (every frame is checked, not just the first).
    """
    sha256, byte_size = sha256_of(fp)
    if byte_size == 0:
        raise ImageRefused("The file is empty.")
    try:
        # LabelingConfig.ready() turns Pillow's bomb *warning* into an error and sets
        # its limit to ours; the per-frame check below covers every page regardless.
        image = PILImage.open(fp, formats=ALLOWED_FORMATS)
    except UnidentifiedImageError:
        raise ImageRefused(
            "This is not a supported image. Upload JPEG, PNG, WebP, TIFF or BMP files."
        ) from None
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise ImageRefused(_too_large_message(None, max_pixels)) from None
    except Exception as exc:  # Pillow raises many types on hostile headers.
        logger.info("refused unreadable image header: %r", exc)
        raise ImageRefused("The file is corrupt: its header cannot be read.") from None

    with image:
        fmt = image.format or ""
        if fmt not in ALLOWED_FORMATS:  # pragma: no cover - Image.open enforces this
            raise ImageRefused(f"{fmt or 'This'} format is not supported.")
        _check_every_frame(image, max_pixels)
        image.seek(0)
        width, height = image.size
        if fmt == "JPEG":
            # Decode at reduced scale: the whole stream is still read, so truncation
            # is still caught, at a fraction of the memory.
            image.draft("RGB", (thumbnail_size, thumbnail_size))
        with DECODE_SLOTS:
            try:
                image.load()
                # After load(): a PNG may keep its EXIF chunk after the pixel data.
                orientation = image.getexif().get(EXIF_ORIENTATION_TAG)
            except Exception as exc:
                logger.info("refused undecodable image: %r", exc)
                raise ImageRefused(
                    "The file is truncated or corrupt: its pixels cannot be decoded."
                ) from None
            thumbnail = _thumbnail(image, thumbnail_size)
        if orientation in _TRANSPOSING_ORIENTATIONS:
            width, height = height, width
    return CheckedImage(
        format=fmt,
        width=width,
        height=height,
        sha256=sha256,
        byte_size=byte_size,
        thumbnail_jpeg=thumbnail,
    )


def _check_every_frame(image: PILImage.Image, max_pixels: int) -> None:
    frames = getattr(image, "n_frames", 1)
    if frames > MAX_FRAMES:
        raise ImageRefused(f"The file has {frames} pages; at most {MAX_FRAMES} are allowed.")
    for index in range(frames):
        try:
            image.seek(index)
        except Exception:
            raise ImageRefused(f"Page {index + 1} of the file is corrupt.") from None
        width, height = image.size
        if width <= 0 or height <= 0:
            raise ImageRefused("The image has no pixels.")
        if width * height > max_pixels:
            raise ImageRefused(_too_large_message((width, height), max_pixels))


def _too_large_message(size: tuple[int, int] | None, max_pixels: int) -> str:
    limit = f"{max_pixels / 1e6:g} megapixels"
    if size is None:
        return f"The image is larger than the {limit} limit."
    width, height = size
    return f"The image is {width}×{height} ({width * height / 1e6:.1f} MP); the limit is {limit}."


def _thumbnail(image: PILImage.Image, size: int) -> bytes:
    """A small JPEG in display orientation, for the project grid."""
    # Shrink first, then rotate: rotating the full image would copy all of it.
    image.thumbnail((size, size), PILImage.Resampling.LANCZOS, reducing_gap=3.0)
    shown = ImageOps.exif_transpose(image)
    # Transparency is flattened onto white (not black), 16-bit stretched to 8 bits.
    shown = to_rgb(shown)
    out = io.BytesIO()
    shown.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()


def to_rgb(image: PILImage.Image) -> PILImage.Image:
    """Any Pillow mode as 8-bit RGB; 16-bit and float images are stretched to fit."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = PILImage.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float images (common from microscopes and satellites): stretch
        # to 8 bits so the thumbnail shows something rather than a white square.
        as_float = image.convert("F")
        low, high = as_float.getextrema()  # (min, max) floats for mode F
        low_f, high_f = float(low), float(high)  # type: ignore[arg-type]
        scale = 255.0 / (high_f - low_f) if high_f > low_f else 0.0
        return as_float.point(lambda v: (v - low_f) * scale).convert("L").convert("RGB")
    return image.convert("RGB")


# ------------------------------------------------------------ stored images, decoded


def shown_as_stored(fp: IO[bytes], fmt: str) -> bool:
    """Whether a browser shows the stored file exactly as the server sees it: a format
    and mode it draws, and no EXIF rotation (header only; no pixels are decoded)."""
    if fmt not in BROWSER_FORMATS:
        return False
    with PILImage.open(fp) as opened:
        orientation = opened.getexif().get(EXIF_ORIENTATION_TAG, 1)
        return opened.mode in BROWSER_MODES and orientation in (1, None)


def display_png(fp: IO[bytes]) -> bytes:
    """The image as displayed (first page, EXIF rotation applied, 8-bit RGB) as PNG:
    lossless, since masks are drawn pixel-exact, but fast (compression level 1)."""
    with DECODE_SLOTS, PILImage.open(fp) as opened:
        opened.seek(0)  # a multi-page TIFF shows its first page, as in the thumbnail
        shown = to_rgb(ImageOps.exif_transpose(opened))
        out = io.BytesIO()
        shown.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def model_input(fp: IO[bytes]) -> np.ndarray:
    """The image as the browser shows it (EXIF orientation applied), HxWx3 uint8 RGB."""
    with DECODE_SLOTS, PILImage.open(fp) as opened:
        opened.seek(0)
        shown = ImageOps.exif_transpose(opened)
        return np.asarray(to_rgb(shown), dtype=np.uint8)
