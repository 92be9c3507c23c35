"""Where embeddings live, and how an image becomes model input.

Embeddings are stored through Django's storage API (local files in embedded mode,
S3 or similar in production), keyed by image content hash and model spec, so the
same picture in two projects with the same model is encoded once.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from PIL import ImageOps

from labeling.models import Image
from labeling.services.image_checks import to_rgb


def storage_key(sha256: str, spec: str) -> str:
    """`embeddings/<model>/<ab>/<sha256>.safetensors`; readable yet collision-free."""
    from inference.specs import canonical_spec

    # One key per model, however it is spelled (facebook/sam-vit-base = sam-vit-base).
    spec = canonical_spec(spec)
    readable = re.sub(r"[^a-z0-9._-]+", "-", spec.lower()).strip("-.")[-48:] or "model"
    digest = hashlib.sha256(spec.encode()).hexdigest()[:12]
    return f"embeddings/{readable}-{digest}/{sha256[:2]}/{sha256}.safetensors"


def read_stored(key: str) -> bytes | None:
    if not default_storage.exists(key):
        return None
    with default_storage.open(key, "rb") as handle:
        data: bytes = handle.read()
    return data


def store(key: str, data: bytes) -> None:
    """Write `data` under exactly `key`, replacing any (corrupt) file there.

    Storage backends pick a fresh name when one is taken; two workers finishing the
    same image at once would then leave two copies, so the loser removes its own.
    """
    saved = default_storage.save(key, ContentFile(data))
    if saved != key:
        default_storage.delete(saved)


def discard(key: str) -> None:
    default_storage.delete(key)


def model_input(image: Image) -> np.ndarray:
    """The image as the browser shows it (EXIF orientation applied), HxWx3 uint8 RGB."""
    with image.file.open("rb") as handle, PILImage.open(handle) as opened:
        opened.seek(0)
        shown = ImageOps.exif_transpose(opened)
        rgb = to_rgb(shown)
        return np.asarray(rgb, dtype=np.uint8)


def load_or_compute(image: Image, model: Any, spec: str) -> Any:
    """The image's embedding for `model` (a `SegmentationModel` loaded from the
    project's `spec`): the stored one, or computed now and stored. For worker jobs
    that decode outside the socket path."""
    from inference import embedding_from_bytes, embedding_to_bytes

    key = storage_key(image.sha256, spec)
    stored = read_stored(key)
    if stored is not None:
        return embedding_from_bytes(stored, spec)
    embedding = model.encode(model_input(image))
    store(key, embedding_to_bytes(embedding))
    return embedding
