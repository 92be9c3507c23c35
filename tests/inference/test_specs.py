"""The spec registry and spec resolution."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import Sam2HieraDetConfig, SamVisionConfig

from inference import SPECS, ModelUnavailableError, canonical_spec, get_spec, resolve_spec
from inference.specs import read_checkpoint_family


def test_the_registry_names_every_published_model() -> None:
    assert {name: spec.family for name, spec in SPECS.items()} == {
        "sam-vit-base": "sam",
        "sam-vit-large": "sam",
        "sam-vit-huge": "sam",
        "sam2.1-hiera-tiny": "sam2",
        "sam2.1-hiera-small": "sam2",
        "sam2.1-hiera-base-plus": "sam2",
        "sam2.1-hiera-large": "sam2",
    }
    assert SPECS["sam-vit-huge"].hub_id == "facebook/sam-vit-huge"
    assert SPECS["sam2.1-hiera-base-plus"].hub_id == "facebook/sam2.1-hiera-base-plus"


def test_hub_ids_of_registry_models_resolve_to_their_names() -> None:
    assert get_spec("facebook/sam-vit-base") is SPECS["sam-vit-base"]
    assert canonical_spec(" facebook/SAM-vit-base ") == "sam-vit-base"
    assert canonical_spec("/models/my-sam") == "/models/my-sam"
    resolved = resolve_spec("facebook/sam2.1-hiera-tiny")
    assert (resolved.spec, resolved.source, resolved.family) == (
        "sam2.1-hiera-tiny",
        "registry",
        "sam2",
    )


def test_vit_base_and_hiera_tiny_are_transformers_defaults() -> None:
    # transformers' default configs are ViT-B and Hiera-T: a cross-check of the table.
    vit = SPECS["sam-vit-base"].transformers_config().vision_config
    default_vit = SamVisionConfig()
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "mlp_dim"):
        assert getattr(vit, key) == getattr(default_vit, key)
    assert list(vit.global_attn_indexes) == list(default_vit.global_attn_indexes)
    hiera = SPECS["sam2.1-hiera-tiny"].transformers_config().vision_config
    default_hiera = Sam2HieraDetConfig()
    for key in (
        "embed_dim_per_stage",
        "num_attention_heads_per_stage",
        "blocks_per_stage",
        "global_attention_blocks",
        "window_size_per_stage",
        "window_positional_embedding_background_size",
    ):
        assert list(getattr(hiera.backbone_config, key)) == list(getattr(default_hiera, key))
    assert list(hiera.backbone_channel_list) == [768, 384, 192, 96]


def test_larger_models_have_their_published_sizes() -> None:
    huge = SPECS["sam-vit-huge"].transformers_config().vision_config
    assert (huge.hidden_size, huge.num_hidden_layers, list(huge.global_attn_indexes)) == (
        1280,
        32,
        [7, 15, 23, 31],
    )
    large = SPECS["sam2.1-hiera-large"].transformers_config().vision_config
    assert list(large.backbone_config.blocks_per_stage) == [2, 6, 36, 4]
    assert list(large.backbone_channel_list) == [1152, 576, 288, 144]
    assert SPECS["sam2.1-hiera-small"].embedding_shapes()["high_res_features_0"] == (
        1,
        32,
        256,
        256,
    )


def test_a_checkpoint_directory_resolves_with_its_family(sam2_dir: Path) -> None:
    resolved = resolve_spec(str(sam2_dir))
    assert (resolved.source, resolved.family, resolved.path) == ("local", "sam2", sam2_dir)


def test_other_hub_ids_resolve_as_hub_downloads() -> None:
    resolved = resolve_spec("someone/my-finetuned-sam")
    assert (resolved.source, resolved.hub_id, resolved.family) == (
        "hub",
        "someone/my-finetuned-sam",
        None,
    )


@pytest.mark.parametrize("spec", ["", "   ", "sam-vit-giant", "./nowhere", "/no/such/dir", "a/b/c"])
def test_unknown_specs_are_refused_with_the_choices(spec: str) -> None:
    with pytest.raises(ModelUnavailableError, match="sam-vit-base, sam-vit-large"):
        resolve_spec(spec)


def test_directories_that_are_not_sam_checkpoints_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match=r"has no config\.json"):
        read_checkpoint_family(tmp_path, "x")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelUnavailableError, match="cannot read"):
        read_checkpoint_family(tmp_path, "x")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelUnavailableError, match="describes a 'bert' model, not SAM"):
        read_checkpoint_family(tmp_path, "x")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "sam2_video"}))
    with pytest.raises(ModelUnavailableError, match=r"no \*.safetensors weights"):
        read_checkpoint_family(tmp_path, "x")
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert read_checkpoint_family(tmp_path, "x") == "sam2"


def _parameters_millions(name: str) -> float:
    from transformers import Sam2Model, SamModel

    spec = SPECS[name]
    with torch.device("meta"):  # shapes only, no memory, no time
        network_class: Any = SamModel if spec.family == "sam" else Sam2Model
        network = network_class(spec.transformers_config())
    return sum(p.numel() for p in network.parameters()) / 1e6


def test_parameter_counts_match_the_published_models() -> None:
    # segment-anything's model card: 93.7M / 312.3M / 641.1M.
    for name, published in [
        ("sam-vit-base", 93.7),
        ("sam-vit-large", 312.3),
        ("sam-vit-huge", 641.1),
    ]:
        assert _parameters_millions(name) == pytest.approx(published, abs=0.05)
    # SAM 2.1's README counts the video memory modules too (the same ~7.5M in every
    # size); Sam2Model is the image part, so the gap must be that same constant.
    published_sam2 = {
        "sam2.1-hiera-tiny": 38.9,
        "sam2.1-hiera-small": 46.0,
        "sam2.1-hiera-base-plus": 80.8,
        "sam2.1-hiera-large": 224.4,
    }
    gaps = [published - _parameters_millions(name) for name, published in published_sam2.items()]
    assert max(gaps) - min(gaps) < 0.1
    assert 7.3 < gaps[0] < 7.6
