"""The registry of model specs: one place that maps names to SAM-family models.

A *spec* is the string a user or a setting names a model by. It is one of:

* a registry name (``sam-vit-base``, ``sam2.1-hiera-tiny``, ...), or the hub id of a
  registry entry (``facebook/sam-vit-base``), which resolves to the registry name;
* a local directory holding a transformers SAM or SAM 2 checkpoint
  (``config.json`` + safetensors); the family is read from ``config.json``;
* any other Hugging Face hub repo id (``owner/name``) holding such a checkpoint.

The registry also carries the hyperparameters of each published model, so benchmarks
can build full-size configs with random weights and stored embeddings can be checked
against the shapes the model produces. This module imports neither torch nor
transformers at import time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from .errors import ModelUnavailableError

if TYPE_CHECKING:
    from transformers import PretrainedConfig

Family = Literal["sam", "sam2"]
FAMILIES: tuple[Family, ...] = ("sam", "sam2")

# transformers `model_type` values whose checkpoints our engines can run. SAM 2.1
# checkpoints on the hub are published as `sam2_video`; `Sam2Model` loads their
# image-only subset (transformers maps `sam2_video` to `Sam2Model` for mask generation).
MODEL_TYPE_FAMILIES: Mapping[str, Family] = MappingProxyType(
    {"sam": "sam", "sam2": "sam2", "sam2_video": "sam2"}
)

# Every published SAM and SAM 2 model embeds a 1024x1024 input into a 64x64 grid of
# 256 channels; SAM 2 adds two higher-resolution feature maps for its mask decoder.
IMAGE_SIZE = 1024
EMBEDDING_DIM = 256
EMBEDDING_GRID = 64

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ModelSpec:
    """One published model: its family, hub id and the hyperparameters of its encoder.

    `encoder` holds the keyword arguments of transformers' `SamVisionConfig` (SAM) or
    `Sam2HieraDetConfig` plus `backbone_channel_list` (SAM 2); decoders are the same
    size in every published model.
    """

    name: str
    family: Family
    hub_id: str
    description: str
    encoder: Mapping[str, Any] = field(default_factory=dict)

    def transformers_config(self) -> PretrainedConfig:
        """A transformers config with this model's hyperparameters (random-weight builds)."""
        if self.family == "sam":
            from transformers import SamConfig

            return SamConfig(vision_config=dict(self.encoder))
        from transformers import Sam2Config

        trunk = {k: v for k, v in self.encoder.items() if k != "backbone_channel_list"}
        trunk["model_type"] = "sam2_hiera_det_model"
        return Sam2Config(
            vision_config={
                "backbone_config": trunk,
                "backbone_channel_list": list(self.encoder["backbone_channel_list"]),
            }
        )

    def embedding_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the tensors an `Embedding` of this model holds."""
        return embedding_shapes(self.family, EMBEDDING_DIM, EMBEDDING_GRID)


def _hiera(
    embed_dim: int,
    heads: int,
    blocks: list[int],
    global_blocks: list[int],
    window_bkg: list[int],
    windows: list[int],
) -> dict[str, Any]:
    # Hiera doubles channels and heads at every stage; the FPN neck lists the stages
    # from coarsest to finest.
    dims = [embed_dim * 2**i for i in range(4)]
    return {
        "hidden_size": embed_dim,
        "num_attention_heads": heads,
        "embed_dim_per_stage": dims,
        "num_attention_heads_per_stage": [heads * 2**i for i in range(4)],
        "blocks_per_stage": blocks,
        "global_attention_blocks": global_blocks,
        "window_positional_embedding_background_size": window_bkg,
        "window_size_per_stage": windows,
        "backbone_channel_list": dims[::-1],
    }


def _vit(hidden: int, layers: int, heads: int, global_layers: list[int]) -> dict[str, Any]:
    return {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "global_attn_indexes": global_layers,
        "mlp_dim": hidden * 4,
    }


_SPEC_LIST = (
    ModelSpec(
        "sam-vit-base", "sam", "facebook/sam-vit-base", "SAM ViT-B (91M encoder)",
        _vit(768, 12, 12, [2, 5, 8, 11]),
    ),
    ModelSpec(
        "sam-vit-large", "sam", "facebook/sam-vit-large", "SAM ViT-L (308M encoder)",
        _vit(1024, 24, 16, [5, 11, 17, 23]),
    ),
    ModelSpec(
        "sam-vit-huge", "sam", "facebook/sam-vit-huge", "SAM ViT-H (636M encoder)",
        _vit(1280, 32, 16, [7, 15, 23, 31]),
    ),
    ModelSpec(
        "sam2.1-hiera-tiny", "sam2", "facebook/sam2.1-hiera-tiny", "SAM 2.1 Hiera-T",
        _hiera(96, 1, [1, 2, 7, 2], [5, 7, 9], [7, 7], [8, 4, 14, 7]),
    ),
    ModelSpec(
        "sam2.1-hiera-small", "sam2", "facebook/sam2.1-hiera-small", "SAM 2.1 Hiera-S",
        _hiera(96, 1, [1, 2, 11, 2], [7, 10, 13], [7, 7], [8, 4, 14, 7]),
    ),
    ModelSpec(
        "sam2.1-hiera-base-plus", "sam2", "facebook/sam2.1-hiera-base-plus", "SAM 2.1 Hiera-B+",
        _hiera(112, 2, [2, 3, 16, 3], [12, 16, 20], [14, 14], [8, 4, 14, 7]),
    ),
    ModelSpec(
        "sam2.1-hiera-large", "sam2", "facebook/sam2.1-hiera-large", "SAM 2.1 Hiera-L",
        _hiera(144, 2, [2, 6, 36, 4], [23, 33, 43], [7, 7], [8, 4, 16, 8]),
    ),
)  # fmt: skip

SPECS: Mapping[str, ModelSpec] = MappingProxyType({s.name: s for s in _SPEC_LIST})
_BY_HUB_ID = {s.hub_id.lower(): s for s in _SPEC_LIST}


def embedding_shapes(family: Family, dim: int, grid: int) -> dict[str, tuple[int, ...]]:
    """Tensor shapes of an embedding with `dim` channels on a `grid` x `grid` grid.

    SAM 2's mask decoder projects the two finer backbone levels to dim/8 and dim/4
    channels at 4x and 2x the grid; the encoder does that projection once per image.
    """
    shapes: dict[str, tuple[int, ...]] = {"image_embeddings": (1, dim, grid, grid)}
    if family == "sam2":
        shapes["high_res_features_0"] = (1, dim // 8, grid * 4, grid * 4)
        shapes["high_res_features_1"] = (1, dim // 4, grid * 2, grid * 2)
    return shapes


@dataclass(frozen=True)
class ResolvedSpec:
    """Where a spec's weights come from.

    `spec` is the canonical spelling (registry name, hub id, or the directory as given).
    `family` is known up front for registry entries and local directories; for other
    hub ids it is read from the downloaded config.
    """

    spec: str
    source: Literal["registry", "hub", "local"]
    family: Family | None
    hub_id: str | None = None
    path: Path | None = None


def get_spec(name: str) -> ModelSpec | None:
    """The registry entry for a name or for its hub id, else None."""
    return SPECS.get(name) or _BY_HUB_ID.get(name.lower())


def canonical_spec(spec: str) -> str:
    """The spelling models and embeddings use for `spec`: registry name for a registry
    entry or its hub id (``facebook/sam-vit-base`` -> ``sam-vit-base``), else `spec`
    stripped. Touches no files, so it is cheap to call when checking stored data."""
    spec = spec.strip()
    known = get_spec(spec)
    return known.name if known is not None else spec


def resolve_spec(spec: str) -> ResolvedSpec:
    """Decide whether `spec` is a registry entry, a local directory or a hub id.

    Raises `ModelUnavailableError` for anything else, listing the registry names.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ModelUnavailableError(f"model spec {spec!r} is empty; {_choices()}")
    spec = spec.strip()
    known = get_spec(spec)
    if known is not None:
        return ResolvedSpec(known.name, "registry", known.family, hub_id=known.hub_id)
    path = Path(spec).expanduser()
    if path.is_dir():
        family = read_checkpoint_family(path, spec)
        return ResolvedSpec(spec, "local", family, path=path)
    looks_like_path = spec.startswith((".", "/", "~")) or spec.count("/") != 1 or "\\" in spec
    if looks_like_path or not _HUB_ID.match(spec):
        raise ModelUnavailableError(
            f"model spec {spec!r} is neither a known model nor an existing directory; "
            f"{_choices()}, or the path of a directory with a transformers SAM/SAM 2 "
            "checkpoint (config.json + *.safetensors)"
        )
    return ResolvedSpec(spec, "hub", None, hub_id=spec)


def read_checkpoint_family(path: Path, spec: str) -> Family:
    """Read `config.json` in a checkpoint directory and return its SAM family.

    Raises `ModelUnavailableError` when the directory has no readable config, the
    config is not SAM or SAM 2, or no safetensors weights sit beside it.
    """
    config = read_checkpoint_config(path, spec)
    model_type = config.get("model_type")
    family = MODEL_TYPE_FAMILIES.get(str(model_type))
    if family is None:
        raise ModelUnavailableError(
            f"model spec {spec!r}: {path / 'config.json'} describes a {model_type!r} model, "
            f"not SAM or SAM 2 (expected model_type one of {sorted(MODEL_TYPE_FAMILIES)})"
        )
    if not any(path.glob("*.safetensors")):
        raise ModelUnavailableError(
            f"model spec {spec!r}: no *.safetensors weights in {path}; save the model with "
            "`save_pretrained` (transformers writes safetensors) or download it again"
        )
    return family


def read_checkpoint_config(path: Path, spec: str) -> dict[str, Any]:
    """The parsed `config.json` of a checkpoint directory, or `ModelUnavailableError`."""
    config_path = path / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelUnavailableError(
            f"model spec {spec!r}: {path} has no config.json, so it is not a transformers "
            "checkpoint directory"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelUnavailableError(
            f"model spec {spec!r}: cannot read {config_path} ({exc})"
        ) from exc
    if not isinstance(config, dict):
        raise ModelUnavailableError(f"model spec {spec!r}: {config_path} is not a JSON object")
    return config


def _choices() -> str:
    return "known models: " + ", ".join(SPECS)
