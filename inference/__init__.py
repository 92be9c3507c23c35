"""Anymask's SAM-family inference engine: pure Python + torch, no Django.

    model = load_model("sam-vit-base")            # or a checkpoint directory
    embedding = model.encode(image)               # HxWx3 uint8 RGB, once per image
    blob = embedding_to_bytes(embedding)          # store it; later:
    embedding = embedding_from_bytes(blob, model.spec)
    decoded = model.decode(embedding, Prompt.click(120, 80))   # or max_side=2048
    best = decoded.candidates[0]                  # .rle .score .bbox .area .low_res_logits
    kept = model.full_mask(embedding, best.low_res_logits)   # full-size EncodedMask

Names that need torch are imported on first use, so `import inference` stays cheap
for code that only needs the errors, the prompt type or the spec registry.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import (
    DeviceOutOfMemoryError,
    EmbeddingError,
    ImageError,
    InferenceError,
    ModelUnavailableError,
    PromptError,
)
from .prompts import MAX_POINTS, Prompt
from .specs import SPECS, ModelSpec, canonical_spec, get_spec, resolve_spec

if TYPE_CHECKING:
    from .automatic import (
        AutoMask,
        AutoMaskRun,
        FilterCounts,
        find_automatic_masks,
        generate_automatic_masks,
    )
    from .candidates import Candidate, Decoded, EncodedMask
    from .embedding import Embedding, embedding_from_bytes, embedding_to_bytes
    from .loading import clear_model_cache, fetch_model, load_model, loaded_models, pick_device
    from .model import ModelInfo, SegmentationModel
    from .threads import share_cores

_LAZY = {
    "AutoMask": "automatic",
    "AutoMaskRun": "automatic",
    "FilterCounts": "automatic",
    "find_automatic_masks": "automatic",
    "generate_automatic_masks": "automatic",
    "Embedding": "embedding",
    "embedding_from_bytes": "embedding",
    "embedding_to_bytes": "embedding",
    "clear_model_cache": "loading",
    "fetch_model": "loading",
    "load_model": "loading",
    "loaded_models": "loading",
    "pick_device": "loading",
    "Candidate": "candidates",
    "Decoded": "candidates",
    "EncodedMask": "candidates",
    "share_cores": "threads",
    "ModelInfo": "model",
    "SegmentationModel": "model",
}

__all__ = [
    "MAX_POINTS",
    "SPECS",
    "AutoMask",
    "AutoMaskRun",
    "Candidate",
    "Decoded",
    "DeviceOutOfMemoryError",
    "Embedding",
    "EmbeddingError",
    "EncodedMask",
    "FilterCounts",
    "ImageError",
    "InferenceError",
    "ModelInfo",
    "ModelSpec",
    "ModelUnavailableError",
    "Prompt",
    "PromptError",
    "SegmentationModel",
    "canonical_spec",
    "clear_model_cache",
    "embedding_from_bytes",
    "embedding_to_bytes",
    "fetch_model",
    "find_automatic_masks",
    "generate_automatic_masks",
    "get_spec",
    "load_model",
    "loaded_models",
    "pick_device",
    "resolve_spec",
    "share_cores",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'inference' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value
