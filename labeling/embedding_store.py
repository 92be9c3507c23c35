"""The one reader and writer of stored embeddings, for the socket and every worker.

Embeddings are stored through Django's storage API (local files in embedded mode,
S3 or similar in production), keyed by image content hash and model spec, so the
same picture in two projects with the same model is encoded once. Reads go through
a per-process LRU of `ANYMASK_EMBEDDING_CACHE_SIZE` entries, and every blob read is
checked against the model that will use it (format, spec, tensor shapes, checksum:
`SegmentationModel.embedding_from_bytes`). Clicking on one image therefore reads its
embedding once, and the image-side tensors the decoder derives at the first decode
(`SegmentationModel.prepare`) stay cached with it.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from inference import EmbeddingError, canonical_spec
from labeling.imaging import model_input
from labeling.models import Image
from labeling.storage import open_stream

if TYPE_CHECKING:
    import numpy as np

    from inference import Embedding, SegmentationModel


class EmbeddingUnavailable(Exception):
    """The image is marked ready but its embedding is missing or unreadable."""


_cache: OrderedDict[str, Embedding] = OrderedDict()
_cache_lock = threading.Lock()


def storage_key(sha256: str, spec: str) -> str:
    """`embeddings/<model>/<ab>/<sha256>.safetensors`; readable yet collision-free."""
    # One key per model, however it is spelled (facebook/sam-vit-base = sam-vit-base).
    spec = canonical_spec(spec)
    readable = re.sub(r"[^a-z0-9._-]+", "-", spec.lower()).strip("-.")[-48:] or "model"
    digest = hashlib.sha256(spec.encode()).hexdigest()[:12]
    return f"embeddings/{readable}-{digest}/{sha256[:2]}/{sha256}.safetensors"


def read_stored(key: str) -> bytes | None:
    try:
        with open_stream(key) as stream:  # one GET on S3, no HEAD first
            return stream.read()
    except FileNotFoundError:
        return None


def _remember(key: str, embedding: Embedding) -> Embedding:
    with _cache_lock:
        # Two threads may read the same embedding at once; keep whichever came first.
        embedding = _cache.setdefault(key, embedding)
        _cache.move_to_end(key)
        while len(_cache) > settings.ANYMASK_EMBEDDING_CACHE_SIZE:
            _cache.popitem(last=False)
    return embedding


def read(model: SegmentationModel, sha256: str, *, cached: bool = True) -> Embedding | None:
    """The stored embedding of the image with content `sha256` for `model`, from the
    LRU or storage; None when none is stored. Raises `EmbeddingError` when the stored
    blob is corrupt or does not fit the model. `cached=False` reads storage itself
    (what is stored now, for the embedding job's "is it there?")."""
    key = storage_key(sha256, model.spec)
    with _cache_lock:
        found = _cache.get(key) if cached else None
        if found is not None:
            _cache.move_to_end(key)
            return found
    data = read_stored(key)
    if data is None:
        return None
    return _remember(key, model.embedding_from_bytes(data))


def require(model: SegmentationModel, sha256: str) -> Embedding:
    """`read` for an image marked ready: a missing or unreadable embedding is
    `EmbeddingUnavailable`."""
    try:
        embedding = read(model, sha256)
    except EmbeddingError as error:
        raise EmbeddingUnavailable(str(error)) from error
    if embedding is None:
        raise EmbeddingUnavailable("the stored embedding is missing")
    return embedding


def compute(model: SegmentationModel, image: Image) -> Embedding:
    """Encode the image as displayed, store the embedding (replacing whatever was under
    its key) and keep it in the LRU."""
    return store(model, image, model.encode(pixels_of(image)))


def pixels_of(image: Image) -> np.ndarray:
    """The image as the model sees it (as displayed: orientation applied, RGB)."""
    with image.file.open("rb") as handle:
        return model_input(handle)


def store(model: SegmentationModel, image: Image, embedding: Embedding) -> Embedding:
    """Store an embedding computed for `image` (one of a batch, say) and keep it in
    the LRU, replacing whatever was under its key."""
    from inference import embedding_to_bytes

    key = storage_key(image.sha256, model.spec)
    _store(key, embedding_to_bytes(embedding))
    with _cache_lock:
        _cache.pop(key, None)  # a replaced blob's old copy must not be served
    return _remember(key, embedding)


def read_or_compute(model: SegmentationModel, image: Image) -> Embedding:
    """The stored embedding, or computed now and stored (worker jobs that decode on
    images that may not be embedded yet). A corrupt stored one is recomputed."""
    try:
        found = read(model, image.sha256)
    except EmbeddingError:
        found = None
    return found if found is not None else compute(model, image)


def discard(sha256: str, spec: str) -> None:
    """Remove a stored embedding (corrupt, say) and forget any cached copy."""
    key = storage_key(sha256, spec)
    with _cache_lock:
        _cache.pop(key, None)
    default_storage.delete(key)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _store(key: str, data: bytes) -> None:
    """Write `data` under exactly `key`, replacing any (corrupt) file there.

    Storage backends pick a fresh name when one is taken; two workers finishing the
    same image at once would then leave two copies, so the loser removes its own.
    """
    if default_storage.exists(key):
        default_storage.delete(key)
    saved = default_storage.save(key, ContentFile(data))
    if saved != key:
        default_storage.delete(saved)
