"""A tuned mask decoder: its weights as safetensors bytes, and the model that uses them.

A tuned version is only a decoder (a few MB for SAM ViT-B), stored next to the base
checkpoint. `with_decoder_state` gives a `SegmentationModel` whose network shares
every sub-module of the base network (the image encoder above all: hundreds of MB)
but holds its own copy of the mask decoder with the tuned weights, so a process can
serve the base and several versions of it at the cost of one encoder.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..errors import ModelUnavailableError
from ..model import SegmentationModel

FORMAT = "anymask-decoder"
FORMAT_VERSION = "1"
_MAX_HEADER_BYTES = 1 << 20


def decoder_state(model: SegmentationModel) -> dict[str, torch.Tensor]:
    """The model's mask decoder weights, float32 on the CPU (detached copies)."""
    return {
        name: t.detach().to("cpu", torch.float32).clone()
        for name, t in model.network.mask_decoder.state_dict().items()
    }


def decoder_to_bytes(state: dict[str, torch.Tensor], spec: str, family: str) -> bytes:
    """Serialise decoder weights (float32 safetensors, with the base model they fit)."""
    tensors = {name: t.detach().to("cpu", torch.float32).contiguous() for name, t in state.items()}
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "spec": spec, "family": family}
    return st_save(tensors, metadata=metadata)


def decoder_from_bytes(data: bytes, model: SegmentationModel) -> dict[str, torch.Tensor]:
    """Parse `decoder_to_bytes` output and check it fits `model`'s decoder exactly.

    Raises `ModelUnavailableError` for truncated or corrupt data, another format, a
    decoder of another family, or tensors whose names or shapes differ.
    """
    meta = _metadata(data)
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise ModelUnavailableError("the file is not an Anymask decoder (format marker)")
    if meta.get("family") != model.family:
        raise ModelUnavailableError(
            f"the decoder was tuned on a {meta.get('family')!r} model, not {model.family!r}"
        )
    try:
        state = st_load(bytes(data))
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise ModelUnavailableError(f"the decoder file is corrupt or truncated ({exc})") from exc
    expected = {k: tuple(v.shape) for k, v in model.network.mask_decoder.state_dict().items()}
    actual = {k: tuple(v.shape) for k, v in state.items()}
    if actual != expected:
        missing = sorted(set(expected) ^ set(actual)) or sorted(
            k for k in expected if expected[k] != actual[k]
        )
        raise ModelUnavailableError(
            f"the decoder does not fit {model.spec!r} (e.g. {', '.join(missing[:3])})"
        )
    for name, t in state.items():
        if not torch.isfinite(t).all():
            raise ModelUnavailableError(f"the decoder weight {name} holds NaN or infinite values")
    return state


def with_decoder_state(
    model: SegmentationModel, state: dict[str, torch.Tensor], label: str
) -> SegmentationModel:
    """A model like `model` whose mask decoder has the weights `state`.

    The new network is a shallow copy: the encoder, prompt encoder and positional
    embedding are the very same modules (shared, never copied); only the mask
    decoder is a new module, in the base model's device and dtype. `label` names the
    version in the model's info (e.g. "v3").
    """
    decoder = copy.deepcopy(model.network.mask_decoder)
    converted = {k: v.to(model.device, model.dtype) for k, v in state.items()}
    decoder.load_state_dict(converted, strict=True)
    network: Any = copy.copy(model.network)
    # Module keeps its children in `_modules`: a shallow copy would share that dict
    # too, and replacing the decoder would then replace the base model's as well.
    network._modules = dict(model.network._modules)
    network._modules["mask_decoder"] = decoder.eval()
    return type(model)(model.spec, network, f"{model.info.source} + decoder {label}", 0.0)


def _metadata(data: bytes) -> dict[str, str]:
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) < 8:
        raise ModelUnavailableError("the decoder file is truncated")
    data = bytes(data)
    header_len = int.from_bytes(data[:8], "little")
    if header_len > _MAX_HEADER_BYTES or 8 + header_len > len(data):
        raise ModelUnavailableError("the decoder file is truncated or not safetensors")
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelUnavailableError("the decoder file is corrupt (unreadable header)") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return {str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else {}
