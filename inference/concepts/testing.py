"""Tiny random SAM 3 checkpoints for tests (no download): a few-layer config, random
weights saved with `save_pretrained`, and a small word-level tokenizer, loaded by
exactly the code that loads `facebook/sam3`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

WORDS = [
    "visual",
    "tree",
    "dog",
    "cat",
    "car",
    "person",
    "bottle",
    "circle",
    "square",
    "triangle",
    "star",
    "red",
    "green",
    "blue",
    "big",
    "small",
    "shape",
    "thing",
    "stripe",
    "dot",
]
SPECIALS = ["<pad>", "<|startoftext|>", "<|endoftext|>", "<unk>"]
HIDDEN = 32


def tiny_sam3_config(image_size: int = 112) -> Any:
    from transformers import Sam3Config

    grid = image_size // 14
    vocab = len(SPECIALS) + len(WORDS)
    return Sam3Config(
        vision_config={
            "backbone_config": {
                "model_type": "sam3_vit_model",
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "image_size": image_size,
                "patch_size": 14,
                "window_size": grid // 2,
                "global_attn_indexes": [1],
                "pretrain_image_size": image_size // 2,
            },
            "fpn_hidden_size": HIDDEN,
            "backbone_feature_sizes": [[grid * 4] * 2, [grid * 2] * 2, [grid] * 2],
        },
        text_config={
            "vocab_size": vocab,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 32,
            "projection_dim": 32,
            "pad_token_id": 0,
            "bos_token_id": 1,
            "eos_token_id": 2,
        },
        geometry_encoder_config={
            "hidden_size": HIDDEN,
            "num_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 64,
        },
        detr_encoder_config={
            "hidden_size": HIDDEN,
            "num_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 64,
        },
        detr_decoder_config={
            "hidden_size": HIDDEN,
            "num_layers": 1,
            "num_queries": 16,
            "num_attention_heads": 2,
            "intermediate_size": 64,
        },
        mask_decoder_config={"hidden_size": HIDDEN, "num_attention_heads": 2},
    )


def tiny_tokenizer() -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(SPECIALS + WORDS)}
    core = Tokenizer(models.WordLevel(vocab, unk_token=SPECIALS[3]))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", 1), ("<|endoftext|>", 2)],
    )
    pad, bos, eos, unk = SPECIALS
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=pad, bos_token=bos, eos_token=eos, unk_token=unk
    )


def save_tiny_sam3(path: str | Path, seed: int = 0, image_size: int = 112) -> Path:
    """A tiny random SAM 3 checkpoint (weights, config, tokenizer) in `path`."""
    from transformers import Sam3Model

    target = Path(path)
    torch.manual_seed(seed)
    network = Sam3Model(tiny_sam3_config(image_size)).eval()
    network.save_pretrained(target)
    tiny_tokenizer().save_pretrained(target)
    return target
