"""The training loop: SAM's mask decoder on stored embeddings, deterministic and bounded.

`train_decoder(model, images, config, on_step)` trains a float32 copy of `model`'s
mask decoder (the base model, which may be bfloat16 and is serving clicks, is
never touched) and returns its weights. Inputs:

* `images`: `TrainingImage`s, each a callable that loads one image's embedding and
  target masks. A step loads one image (so memory holds one embedding at a time,
  whatever the project's size), draws up to `masks_per_step` of its masks, places
  a prompt on each (`sampling`: a first click or a jittered box, then 0 to
  `max_corrective_clicks` corrective clicks from the current prediction) and
  takes one AdamW step on SAM's loss (`losses`).
* The order is a seeded permutation per epoch and every random draw comes from
  one seeded generator: the same seed, data and device give the same weights.
* It stops after `max_steps`, after `time_budget_s`, or when `on_step` returns
  False (a cancel).

Precision: on CUDA, and on a CPU with native bfloat16, the forward runs under
bfloat16 autocast while the trained weights stay float32 (AdamW's small updates
round away in bfloat16 weights); elsewhere everything is float32.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..embedding import Embedding
from ..model import SegmentationModel
from .losses import sam_loss
from .sampling import cell_to_model, corrective_click, first_click, jittered_box, low_res_target

_SAM2_LEVELS = ("high_res_features_0", "high_res_features_1", "image_embeddings")


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    max_steps: int = 1000
    time_budget_s: float = 600.0
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_steps: int = 10
    masks_per_step: int = 8
    max_corrective_clicks: int = 3
    box_fraction: float = 0.5


@dataclass(frozen=True)
class TrainingImage:
    """One image to train on; `load` returns its embedding and (H, W) bool masks."""

    key: str
    load: Callable[[], tuple[Embedding, list[np.ndarray]]]


@dataclass(frozen=True)
class StepReport:
    step: int
    total_steps: int
    loss: float
    elapsed_s: float
    remaining_s: float


@dataclass
class TrainResult:
    state: dict[str, torch.Tensor]
    steps: int
    seconds: float
    stopped: str  # "steps" | "time" | "canceled" | "no data"
    losses: list[float] = field(default_factory=list)

    @property
    def first_loss(self) -> float | None:
        return _mean(self.losses[: max(1, len(self.losses) // 10)])

    @property
    def last_loss(self) -> float | None:
        return _mean(self.losses[-max(1, len(self.losses) // 10) :])


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def uses_autocast(model: SegmentationModel) -> bool:
    """bfloat16 autocast on CUDA and where the model already runs in bfloat16."""
    return model.device.type == "cuda" or model.dtype == torch.bfloat16


class DecoderTrainer:
    """A float32 copy of the prompt side of `model` with a trainable mask decoder."""

    def __init__(self, model: SegmentationModel, box_fraction: float = 0.5):
        self.model, self.box_fraction = model, box_fraction
        network: Any = copy.copy(model.network)  # shares the encoder (never run here)
        network._modules = dict(model.network._modules)
        for name in ("mask_decoder", "prompt_encoder", "shared_image_embedding"):
            module = copy.deepcopy(model.network._modules[name]).float()
            network._modules[name] = module
        for parameter in network.prompt_encoder.parameters():
            parameter.requires_grad_(False)
        for parameter in network.shared_image_embedding.parameters():
            parameter.requires_grad_(False)
        self.network = network
        self.decoder = network.mask_decoder
        self.autocast = uses_autocast(model)
        self.low_res = model.low_res_size
        self.image_size = model.image_size

    def _context(self) -> contextlib.AbstractContextManager[Any]:
        if self.autocast:
            return torch.autocast(self.model.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def features(self, embedding: Embedding) -> Any:
        """The embedding as the network's `image_embeddings` argument, float32."""
        device = self.model.device
        if self.model.family == "sam2":
            return [embedding.tensors[n].to(device, torch.float32) for n in _SAM2_LEVELS]
        return embedding.tensors["image_embeddings"].to(device, torch.float32)

    def forward(
        self,
        features: Any,
        points: list[tuple[float, float]],
        labels: list[int],
        box: np.ndarray | None,
        mask_in: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One prompt (model-input coordinates, optional (L, L) previous logits) ->
        logits (m, L, L), IoU (m,), float32.

        A single click asks for SAM's three masks (it is ambiguous), anything else
        for one."""
        device = self.model.device
        kwargs: dict[str, torch.Tensor] = {}
        if points:
            kwargs["input_points"] = torch.tensor([[points]], dtype=torch.float32, device=device)
            kwargs["input_labels"] = torch.tensor([[labels]], dtype=torch.long, device=device)
        if box is not None:
            kwargs["input_boxes"] = torch.from_numpy(box).to(device)[None, None]
        if mask_in is not None:
            kwargs["input_masks"] = mask_in.to(device, torch.float32)[None, None]
        multimask = len(points) == 1 and box is None
        with self._context():
            out = self.network(image_embeddings=features, multimask_output=multimask, **kwargs)
        return out.pred_masks[0, 0].float(), out.iou_scores[0, 0].float()

    def sample_prompt(
        self, features: Any, target: torch.Tensor, rng: np.random.Generator, corrections: int
    ) -> tuple[list[tuple[float, float]], list[int], np.ndarray | None, torch.Tensor | None]:
        """A first click or a jittered box, then `corrections` corrective clicks placed
        on the current prediction (computed without gradients), and the logits of that
        prediction: what the next decode gets as its mask prompt, as in the labeling
        page and the evaluator (`inference.evaluation.simulate`)."""
        truth = target.cpu().numpy() > 0.5
        points: list[tuple[float, float]] = []
        labels: list[int] = []
        box = None
        mask_in: torch.Tensor | None = None
        if rng.random() < self.box_fraction:
            box = jittered_box(truth, rng, self.low_res, self.image_size)
        if box is None:
            cell = first_click(truth)
            if cell is not None:
                points.append(cell_to_model(cell, self.low_res, self.image_size))
                labels.append(1)
        for _ in range(corrections):
            with torch.no_grad():
                logits, scores = self.forward(features, points, labels, box, mask_in)
            chosen = logits[int(torch.argmax(scores))]
            click = corrective_click(truth, chosen.cpu().numpy() > 0)
            if click is None:
                break
            cell, label = click
            points.append(cell_to_model(cell, self.low_res, self.image_size))
            labels.append(label)
            mask_in = chosen.detach()
        return points, labels, box, mask_in


def train_decoder(
    model: SegmentationModel,
    images: Sequence[TrainingImage],
    config: TrainConfig,
    on_step: Callable[[StepReport], bool] | None = None,
) -> TrainResult:
    """Fine-tune `model`'s mask decoder on `images` (see the module doc)."""
    started = time.monotonic()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    trainer = DecoderTrainer(model, config.box_fraction)
    parameters = [p for p in trainer.decoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        parameters, lr=config.learning_rate, weight_decay=config.weight_decay
    )
    warmup = max(1, config.warmup_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup)
    )
    result = TrainResult(state={}, steps=0, seconds=0.0, stopped="steps")
    order: list[int] = []
    if not images:
        result.stopped = "no data"
    for step in range(config.max_steps if images else 0):
        elapsed = time.monotonic() - started
        if elapsed >= config.time_budget_s:
            result.stopped = "time"
            break
        if not order:  # a new epoch: a fresh seeded permutation
            order = [int(i) for i in rng.permutation(len(images))]
        embedding, masks = images[order.pop(0)].load()
        loss = _image_step(trainer, embedding, masks, config, rng)
        if loss is None:
            continue
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        result.steps = step + 1
        result.losses.append(loss)
        if on_step is not None:
            elapsed = time.monotonic() - started
            per_step = elapsed / (step + 1)
            remaining = min(
                config.time_budget_s - elapsed, per_step * (config.max_steps - step - 1)
            )
            report = StepReport(step + 1, config.max_steps, loss, elapsed, max(0.0, remaining))
            if not on_step(report):
                result.stopped = "canceled"
                break
    result.state = {
        name: t.detach().to("cpu", torch.float32).clone()
        for name, t in trainer.decoder.state_dict().items()
    }
    result.seconds = time.monotonic() - started
    return result


def _image_step(
    trainer: DecoderTrainer,
    embedding: Embedding,
    masks: list[np.ndarray],
    config: TrainConfig,
    rng: np.random.Generator,
) -> float | None:
    """Accumulate the gradients of one image's step; its mean loss (None: no masks)."""
    model = trainer.model
    model.check_embedding(embedding)
    padded = model.padded_size is not None
    targets = [
        low_res_target(m, embedding.input_size, padded, trainer.low_res, trainer.image_size)
        for m in masks
    ]
    targets = [t for t in targets if t.sum() > 0]  # too small to show at low res
    if not targets:
        return None
    count = min(len(targets), config.masks_per_step)
    picked = sorted(int(i) for i in rng.choice(len(targets), size=count, replace=False))
    features = trainer.features(embedding)
    total = 0.0
    for index in picked:
        target = targets[index].to(model.device)
        corrections = int(rng.integers(0, config.max_corrective_clicks + 1))
        points, labels, box, mask_in = trainer.sample_prompt(features, target, rng, corrections)
        if not points and box is None:
            continue
        logits, iou = trainer.forward(features, points, labels, box, mask_in)
        loss = sam_loss(logits, iou, target) / count
        if not math.isfinite(float(loss.detach())):
            raise FloatingPointError("the training loss is not finite; lower the learning rate")
        loss.backward()
        total += float(loss.detach())
    return total
