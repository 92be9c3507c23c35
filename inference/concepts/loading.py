"""Loading SAM 3 concept models: the registry name `sam3`, a hub id, or a local
directory whose `config.json` says `sam3` (or `sam3_video`, whose detector half is
loaded). Downloads go through the same path, progress bar and availability reports
as the click models (`inference.loading`); the tokenizer comes with the weights."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from inference.errors import ModelUnavailableError
from inference.loading import WEIGHT_FILES, _download, _reported, dtype_for, pick_device

from .model import ConceptModel

# Registry: name → hub repo. About 840M parameters, 3.4 GB in bf16.
CONCEPT_MODELS = {"sam3": "facebook/sam3"}
CONCEPT_MODEL_TYPES = ("sam3", "sam3_video")
TOKENIZER_FILES = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
]

_models: dict[tuple[str, str, str], ConceptModel] = {}
_lock = threading.Lock()


def concept_checkpoint(spec: str) -> tuple[str, Path | None, str | None]:
    """(canonical spec, local directory or None, hub id or None) for `spec`."""
    spec = str(spec).strip()
    if not spec:
        raise ModelUnavailableError("no concept model is configured (ANYMASK_CONCEPT_MODEL)")
    if spec in CONCEPT_MODELS:
        return spec, None, CONCEPT_MODELS[spec]
    path = Path(spec).expanduser()
    if path.is_dir():
        read_concept_type(path, spec)
        return str(path.resolve()), path.resolve(), None
    if spec.count("/") == 1 and not spec.startswith(("/", ".")):
        return spec, None, spec
    raise ModelUnavailableError(
        f"concept model {spec!r} is neither {', '.join(CONCEPT_MODELS)}, a local directory "
        "nor a hub id"
    )


def read_concept_type(path: Path, spec: str) -> str:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(
            f"concept model {spec!r}: no readable config.json in {path} ({exc})"
        ) from exc
    model_type = str(config.get("model_type", ""))
    if model_type not in CONCEPT_MODEL_TYPES:
        raise ModelUnavailableError(
            f"concept model {spec!r}: {path} holds a {model_type or 'unknown'!r} checkpoint, "
            "not SAM 3"
        )
    return model_type


def load_concept_model(spec: str, device: str | None = None) -> ConceptModel:
    """The concept model for `spec`, loaded once per process and (spec, device, dtype)."""
    target = pick_device(device)
    dtype = dtype_for(target)
    canonical, path, hub_id = concept_checkpoint(spec)
    key = (canonical, str(target), str(dtype))
    with _lock:
        model = _models.get(key)
        if model is None:
            model = _reported(canonical, lambda: _load(canonical, path, hub_id, target, dtype))
            _models[key] = model
    return model


def is_concept_spec(spec: str) -> bool:
    """Whether `spec` names a concept model: `sam3`, or a directory holding SAM 3."""
    spec = str(spec).strip()
    if spec in CONCEPT_MODELS:
        return True
    path = Path(spec).expanduser()
    try:
        return path.is_dir() and bool(read_concept_type(path, spec))
    except ModelUnavailableError:
        return False


def fetch_concept_model(spec: str) -> Path:
    """The checkpoint (weights and tokenizer) of `spec` on disk, downloaded if needed;
    loads nothing (for `make fetch-model MODEL=sam3`)."""
    canonical, path, hub_id = concept_checkpoint(spec)

    def fetch() -> Path:
        if path is not None:
            return path
        assert hub_id is not None
        found = _download(canonical, hub_id, WEIGHT_FILES + TOKENIZER_FILES)
        read_concept_type(found, spec)
        return found

    return _reported(canonical, fetch)


def clear_concept_models() -> None:
    with _lock:
        _models.clear()


def _load(
    spec: str, path: Path | None, hub_id: str | None, device: Any, dtype: Any
) -> ConceptModel:
    from transformers import AutoTokenizer, Sam3Model

    if path is None:
        assert hub_id is not None
        path = _download(spec, hub_id, WEIGHT_FILES + TOKENIZER_FILES)
        read_concept_type(path, spec)
    try:
        network = Sam3Model.from_pretrained(path, local_files_only=True, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as exc:  # transformers raises many unrelated types
        raise ModelUnavailableError(
            f"concept model {spec!r}: cannot load the checkpoint in {path} "
            f"({type(exc).__name__}: {exc}); the files may be incomplete, download them again"
        ) from exc
    return ConceptModel(spec, network.to(device), tokenizer, hub_id or str(path))
