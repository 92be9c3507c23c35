"""Image embeddings and their storage format.

An `Embedding` is everything the prompt side of a model needs about one image: the
encoder's feature maps plus the sizes to map prompts in and masks out. The web app
stores it through Django's storage API, so it travels as bytes: a safetensors blob
with float16 tensors and string metadata (format version, spec, family, sizes and a
CRC32 of the tensor data). `embedding_from_bytes` trusts nothing in the blob.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .errors import EmbeddingError
from .preprocess import longest_side_shape
from .specs import FAMILIES, Family, canonical_spec, embedding_shapes, get_spec

FORMAT = "anymask-embedding"
FORMAT_VERSION = "1"
STORAGE_DTYPE = torch.float16
_MAX_HEADER_BYTES = 1 << 20  # safetensors headers of a few tensors are a few hundred bytes
_PATCH = 16  # input pixels per embedding cell in every SAM and SAM 2 model


@dataclass(eq=False)
class Embedding:
    """The encoder output for one image.

    tensors: SAM: image_embeddings (1, 256, 64, 64). SAM 2: image_embeddings
        (1, 256, 64, 64), high_res_features_0 (1, 32, 256, 256) and
        high_res_features_1 (1, 64, 128, 128). On the model's device and dtype after
        `encode`, float16 on CPU after `embedding_from_bytes`.
    original_size: (h, w) of the image as uploaded.
    input_size: (h, w) of the resized image inside the model's 1024x1024 input.
    """

    spec: str
    family: Family
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    tensors: dict[str, torch.Tensor] = field(repr=False)
    # Per-model, prompt-independent tensors derived at the first decode (see
    # `SegmentationModel.prepare`); never serialised.
    prepared: dict[object, Any] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={tuple(v.shape)}" for k, v in sorted(self.tensors.items()))
        return (
            f"Embedding(spec={self.spec!r}, family={self.family!r}, "
            f"original_size={self.original_size}, input_size={self.input_size}, {shapes})"
        )

    @property
    def nbytes(self) -> int:
        """Bytes held by the tensors (not counting prepared caches)."""
        return sum(t.numel() * t.element_size() for t in self.tensors.values())


def embedding_to_bytes(embedding: Embedding) -> bytes:
    """Serialise to a float16 safetensors blob (about 2 MB for SAM, 8 MB for SAM 2)."""
    tensors = {
        name: t.detach().to("cpu", STORAGE_DTYPE).contiguous()
        for name, t in embedding.tensors.items()
    }
    for name, t in tensors.items():
        if not torch.isfinite(t).all():
            raise EmbeddingError(f"embedding tensor {name} has values outside the float16 range")
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spec": embedding.spec,
        "family": embedding.family,
        "original_size": _size_str(embedding.original_size),
        "input_size": _size_str(embedding.input_size),
        "crc32": _checksum(tensors),
    }
    return st_save(tensors, metadata=metadata)


def embedding_from_bytes(data: bytes, expected_spec: str) -> Embedding:
    """Parse a blob from `embedding_to_bytes` and check it belongs to `expected_spec`
    (any spelling of it: ``facebook/sam-vit-base`` and ``sam-vit-base`` are one model).

    Raises `EmbeddingError` if the data is truncated or corrupt, was written by another
    format version or model, or holds tensors of the wrong names, shapes or dtype.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise EmbeddingError(f"embedding data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    meta = _read_metadata(data)
    if meta.get("format") != FORMAT:
        raise EmbeddingError("data is not an Anymask embedding (no format marker)")
    if meta.get("format_version") != FORMAT_VERSION:
        raise EmbeddingError(
            f"embedding format version {meta.get('format_version')!r} is not supported "
            f"(expected {FORMAT_VERSION}); recompute the embedding"
        )
    spec = meta.get("spec")
    expected_spec = canonical_spec(expected_spec)
    if spec != expected_spec:
        raise EmbeddingError(
            f"embedding was computed by model {spec!r}, not {expected_spec!r}; recompute it "
            "with the current model"
        )
    family = meta.get("family")
    if family not in FAMILIES:
        raise EmbeddingError(f"embedding names an unknown model family {family!r}")
    known = get_spec(expected_spec)
    if known is not None and known.family != family:
        raise EmbeddingError(
            f"embedding claims family {family!r} but {expected_spec!r} is a {known.family!r} model"
        )
    original_size = _parse_size(meta.get("original_size"), "original_size")
    input_size = _parse_size(meta.get("input_size"), "input_size")
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise EmbeddingError(f"embedding data is corrupt or truncated ({exc})") from exc
    check_tensors(tensors, family, expected_spec)
    check_sizes(family, original_size, input_size, tensors["image_embeddings"].shape[-1])
    if meta.get("crc32") != _checksum(tensors):
        raise EmbeddingError("embedding data is corrupt (checksum mismatch)")
    return Embedding(expected_spec, family, original_size, input_size, tensors)


def check_tensors(tensors: dict[str, torch.Tensor], family: Family, spec: str) -> None:
    """Raise `EmbeddingError` unless `tensors` have the names and shapes of `family`.

    The channel count and grid are read from image_embeddings, so embeddings of small
    test models pass; registry specs are also held to their exact published shapes.
    """
    main = tensors.get("image_embeddings")
    if main is None or main.ndim != 4 or main.shape[0] != 1 or main.shape[2] != main.shape[3]:
        shape = None if main is None else tuple(main.shape)
        raise EmbeddingError(f"embedding needs image_embeddings of shape (1, C, G, G), got {shape}")
    expected = embedding_shapes(family, int(main.shape[1]), int(main.shape[2]))
    known = get_spec(spec)
    if known is not None:
        expected = known.embedding_shapes()
    actual = {name: tuple(t.shape) for name, t in tensors.items()}
    if actual != expected:
        raise EmbeddingError(f"embedding tensors {actual} do not match {spec!r}: {expected}")
    for name, t in tensors.items():
        if t.dtype != STORAGE_DTYPE:
            raise EmbeddingError(f"embedding tensor {name} is {t.dtype}, expected float16")
        if not torch.isfinite(t).all():
            raise EmbeddingError(f"embedding tensor {name} holds NaN or infinite values")


def check_sizes(
    family: Family, original_size: tuple[int, int], input_size: tuple[int, int], grid: int
) -> None:
    """Raise `EmbeddingError` if input_size is not what the family's resize gives."""
    side = grid * _PATCH
    if family == "sam":
        expected = longest_side_shape(original_size[0], original_size[1], side)
    else:
        expected = (side, side)
    if input_size != expected:
        raise EmbeddingError(
            f"embedding sizes are inconsistent: input {input_size} for an image of "
            f"{original_size} (expected {expected})"
        )


def _read_metadata(data: bytes) -> dict[str, str]:
    # safetensors layout: u64 little-endian header length, then a JSON header whose
    # "__metadata__" entry holds our strings. Read it ourselves so a blob from another
    # source fails with a clear message before any tensor is materialised.
    if len(data) < 8:
        raise EmbeddingError(f"embedding data is truncated ({len(data)} bytes)")
    header_len = int.from_bytes(data[:8], "little")
    if header_len > _MAX_HEADER_BYTES or 8 + header_len > len(data):
        raise EmbeddingError("embedding data is truncated or not a safetensors blob")
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise EmbeddingError("embedding data is corrupt (unreadable header)") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict):
        raise EmbeddingError("data is not an Anymask embedding (no metadata)")
    return {str(k): str(v) for k, v in meta.items()}


def _size_str(size: tuple[int, int]) -> str:
    return f"{int(size[0])},{int(size[1])}"


def _parse_size(text: str | None, what: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in (text or "").split(","))
    except ValueError:
        raise EmbeddingError(f"embedding metadata {what}={text!r} is not 'height,width'") from None
    if h < 1 or w < 1:
        raise EmbeddingError(f"embedding metadata {what}={text!r} is not a positive size")
    return h, w


def _checksum(tensors: dict[str, torch.Tensor]) -> str:
    crc = 0
    for name in sorted(tensors):
        crc = zlib.crc32(name.encode(), crc)
        array = tensors[name].contiguous().view(torch.int16).numpy()
        crc = zlib.crc32(np.ascontiguousarray(array).data, crc)
    return f"{crc:08x}"
