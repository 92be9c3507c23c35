"""Fine-tuning the mask decoder: stored weights, the shared encoder, the loop."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from inference import ModelUnavailableError, Prompt
from inference.embedding import Embedding
from inference.finetune.decoder_state import (
    decoder_from_bytes,
    decoder_state,
    decoder_to_bytes,
    with_decoder_state,
)
from inference.finetune.losses import sam_loss
from inference.finetune.sampling import first_click, low_res_target
from inference.finetune.train import (
    DecoderTrainer,
    StepReport,
    TrainConfig,
    TrainingImage,
    train_decoder,
)
from inference.loading import load_model
from inference.model import SegmentationModel

# Few, cheap steps: one mask per step, no corrective clicks (each costs a forward).
QUICK = TrainConfig(
    max_steps=12,
    learning_rate=3e-4,
    masks_per_step=2,
    max_corrective_clicks=0,
    warmup_steps=1,
    box_fraction=0.0,
)


def disk(shape: tuple[int, int], cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 < r**2


@pytest.fixture(scope="module")
def masks(image: np.ndarray) -> list[np.ndarray]:
    # The test picture's red disk (centre 200, 250, radius 120) and a second object.
    return [disk(image.shape[:2], 200, 250, 120), disk(image.shape[:2], 420, 650, 90)]


def items(embedding: Embedding, masks: list[np.ndarray]) -> list[TrainingImage]:
    return [TrainingImage("only", lambda: (embedding, masks))]


def fixed_loss(model: SegmentationModel, embedding: Embedding, mask: np.ndarray) -> float:
    """SAM's loss for the first-click prompt on `mask`, under `model`'s decoder."""
    trainer = DecoderTrainer(model)
    target = low_res_target(
        mask, embedding.input_size, model.padded_size is not None, 256, model.image_size
    )
    cell = first_click(target.numpy() > 0.5)
    assert cell is not None
    point = ((cell[1] + 0.5) * 4, (cell[0] + 0.5) * 4)
    with torch.no_grad():
        logits, iou = trainer.forward(trainer.features(embedding), [point], [1], None)
        return float(sam_loss(logits, iou, target))


def test_decoder_weights_round_trip_through_safetensors(model: SegmentationModel) -> None:
    state = {k: v + 0.5 for k, v in decoder_state(model).items()}
    data = decoder_to_bytes(state, model.spec, model.family)
    back = decoder_from_bytes(data, model)
    assert back.keys() == state.keys()
    assert all(torch.equal(back[k], state[k]) for k in state)
    with pytest.raises(ModelUnavailableError, match="truncated"):
        decoder_from_bytes(data[: len(data) // 2], model)
    with pytest.raises(ModelUnavailableError):
        decoder_from_bytes(b"not a decoder at all", model)
    other = "sam2" if model.family == "sam" else "sam"
    with pytest.raises(ModelUnavailableError, match="tuned on"):
        decoder_from_bytes(decoder_to_bytes(state, model.spec, other), model)


def test_a_version_shares_the_encoder_and_decodes_differently(
    model: SegmentationModel, embedding: Embedding
) -> None:
    before = model.decode(embedding, Prompt.click(250, 200))
    state = {k: v * 1.5 for k, v in decoder_state(model).items()}
    tuned = with_decoder_state(model, state, "v1")
    # The encoder is the very same module (not a copy); the decoder is its own.
    assert tuned.network.vision_encoder is model.network.vision_encoder
    assert tuned.network.prompt_encoder is model.network.prompt_encoder
    assert tuned.network.mask_decoder is not model.network.mask_decoder
    assert model.network._modules["mask_decoder"] is model._decoder.decoder
    changed = tuned.decode(embedding, Prompt.click(250, 200))
    assert [c.rle for c in changed] != [c.rle for c in before]
    # The base model is untouched.
    again = model.decode(embedding, Prompt.click(250, 200))
    assert [c.rle for c in again] == [c.rle for c in before]
    # The same weights give the same decodes as the base.
    same = with_decoder_state(model, decoder_state(model), "copy")
    assert [c.rle for c in same.decode(embedding, Prompt.click(250, 200))] == [
        c.rle for c in before
    ]


@pytest.mark.timeout(900)
def test_training_lowers_the_loss(
    model: SegmentationModel, embedding: Embedding, masks: list[np.ndarray]
) -> None:
    config = TrainConfig(**{**QUICK.__dict__, "max_steps": 8, "learning_rate": 1e-3})
    result = train_decoder(model, items(embedding, masks[:1]), config)
    assert result.steps == 8 and result.stopped == "steps"
    tuned = with_decoder_state(model, result.state, "t")
    after, before = fixed_loss(tuned, embedding, masks[0]), fixed_loss(model, embedding, masks[0])
    assert after < 0.8 * before
    assert result.last_loss is not None and result.first_loss is not None
    assert result.last_loss < result.first_loss


@pytest.mark.timeout(900)
def test_training_is_deterministic_under_a_seed(
    sam_model: SegmentationModel, sam_embedding: Embedding, masks: list[np.ndarray]
) -> None:
    config = TrainConfig(**{**QUICK.__dict__, "max_steps": 2})
    first = train_decoder(sam_model, items(sam_embedding, masks), config)
    second = train_decoder(sam_model, items(sam_embedding, masks), config)
    assert all(torch.equal(first.state[k], second.state[k]) for k in first.state)
    other_seed = TrainConfig(**{**config.__dict__, "seed": 7})
    third = train_decoder(sam_model, items(sam_embedding, masks), other_seed)
    assert any(not torch.equal(first.state[k], third.state[k]) for k in first.state)
    # The served model's own decoder never moved.
    base = decoder_state(sam_model)
    fresh = load_model(sam_model.spec, device="cpu")
    assert all(torch.equal(base[k], decoder_state(fresh)[k]) for k in base)


def test_a_cancel_stops_training_at_the_next_step(
    sam_model: SegmentationModel, sam_embedding: Embedding, masks: list[np.ndarray]
) -> None:
    seen: list[StepReport] = []

    def on_step(report: StepReport) -> bool:
        seen.append(report)
        return report.step < 2

    result = train_decoder(sam_model, items(sam_embedding, masks), QUICK, on_step)
    assert result.stopped == "canceled" and result.steps == 2 and len(seen) == 2
    assert seen[0].total_steps == QUICK.max_steps and seen[0].remaining_s > 0


def test_the_time_budget_ends_training(
    sam_model: SegmentationModel, sam_embedding: Embedding, masks: list[np.ndarray]
) -> None:
    config = TrainConfig(**{**QUICK.__dict__, "max_steps": 1000, "time_budget_s": 0.0})
    result = train_decoder(sam_model, items(sam_embedding, masks), config)
    assert result.stopped == "time" and result.steps == 0


def test_a_bfloat16_model_trains_in_float32(
    sam_dir: Path, image: np.ndarray, masks: list[np.ndarray]
) -> None:
    """bfloat16 weights would swallow AdamW's small updates: the trainer keeps a
    float32 copy (and uses autocast), and the served bfloat16 model is untouched."""
    os.environ["ANYMASK_DTYPE"] = "bfloat16"
    try:
        model = load_model(str(sam_dir), device="cpu")
    finally:
        os.environ["ANYMASK_DTYPE"] = "float32"
    assert model.dtype == torch.bfloat16
    embedding = model.encode(image)
    before = decoder_state(model)
    config = TrainConfig(**{**QUICK.__dict__, "max_steps": 2, "learning_rate": 1e-5})
    result = train_decoder(model, items(embedding, masks), config)
    assert all(t.dtype == torch.float32 for t in result.state.values())
    moved = [k for k in before if not torch.equal(before[k], result.state[k])]
    assert len(moved) > len(before) // 2  # 1e-5 steps survive in float32
    assert next(model.network.mask_decoder.parameters()).dtype == torch.bfloat16
    assert all(torch.equal(before[k], decoder_state(model)[k]) for k in before)
