"""Play the RITM protocol against a model: clicks in, IoU after every click out.

Each click is decoded as the labeling page decodes it: every click so far as a
point prompt, plus the previous mask's low-res logits as the mask prompt (SAM's
iterative refinement), through the fast decoder (`SegmentationModel.decode_logits`).
The first click, alone and ambiguous, asks for three candidates and keeps the one
the model scores best, as the page shows it first; later clicks ask for one mask.

`simulate_instance` runs one object through exactly that path. `simulate_image`
runs all objects of one image together: at every step each object has the same
number of clicks, so their prompts stack into one batched decoder call, which is
what makes evaluating a project fast; it gives the same curves (tests compare).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..embedding import Embedding
from ..mask_upsample import low_res_to_masks
from ..model import SegmentationModel
from ..preprocess import to_model_coords
from ..prompts import Prompt
from .clicks import Click, NothingToClick, iou, next_click
from .metrics import MAX_CLICKS

MAX_BATCH = 32
"""Objects decoded together in `simulate_image` (bounds device memory)."""


def _check_gt(embedding: Embedding, gt: np.ndarray) -> np.ndarray:
    gt = np.asarray(gt, bool)
    if gt.shape != tuple(embedding.original_size):
        raise ValueError(
            f"ground truth {gt.shape} does not match the image {tuple(embedding.original_size)}"
        )
    if not gt.any():
        raise ValueError("the ground-truth mask is empty")
    return gt


def _check_budget(max_clicks: int) -> None:
    if not 1 <= max_clicks <= MAX_CLICKS:
        raise ValueError(f"max_clicks must be 1..{MAX_CLICKS}, got {max_clicks}")


def simulate_instance(
    model: SegmentationModel,
    embedding: Embedding,
    gt: np.ndarray,
    max_clicks: int = MAX_CLICKS,
) -> list[float]:
    """IoU with `gt` (bool HxW at the image size) after each of `max_clicks` clicks.

    A prediction that becomes exact leaves nothing to click: its IoU (1.0) is
    repeated to the end, so the list always has `max_clicks` values.
    """
    _check_budget(max_clicks)
    gt = _check_gt(embedding, gt)
    clicks: list[Click] = []
    pred: np.ndarray | None = None
    logits: np.ndarray | None = None
    ious: list[float] = []
    while len(ious) < max_clicks:
        try:
            click = next_click(gt, pred, clicks)
        except NothingToClick:
            ious.extend([ious[-1]] * (max_clicks - len(ious)))
            break
        clicks.append(click)
        prompt = Prompt(
            points=[c.point for c in clicks],
            labels=[int(c.positive) for c in clicks],
            mask_logits=logits,
        )
        low_res, scores = model.decode_logits(embedding, prompt)
        best = int(torch.argmax(scores.float()))
        chosen = low_res[best : best + 1]
        pred = _to_masks(model, embedding, chosen)[0]
        logits = chosen.float().cpu().numpy()
        ious.append(iou(gt, pred))
    return ious


def simulate_image(
    model: SegmentationModel,
    embedding: Embedding,
    gts: Sequence[np.ndarray],
    max_clicks: int = MAX_CLICKS,
    on_step: Callable[[], None] | None = None,
) -> list[list[float]]:
    """`simulate_instance` for every mask in `gts`, decoded in batches of
    `MAX_BATCH` objects per step. `on_step` is called after every batched step
    (a place to check for cancellation; an exception there stops the run)."""
    _check_budget(max_clicks)
    checked = [_check_gt(embedding, gt) for gt in gts]
    curves: list[list[float]] = []
    for start in range(0, len(checked), MAX_BATCH):
        curves.extend(
            _simulate_batch(
                model, embedding, checked[start : start + MAX_BATCH], max_clicks, on_step
            )
        )
    return curves


def _simulate_batch(
    model: SegmentationModel,
    embedding: Embedding,
    gts: list[np.ndarray],
    max_clicks: int,
    on_step: Callable[[], None] | None,
) -> list[list[float]]:
    count = len(gts)
    clicks: list[list[Click]] = [[] for _ in gts]
    preds: list[np.ndarray | None] = [None] * count
    ious: list[list[float]] = [[] for _ in gts]
    logits: torch.Tensor | None = None  # (count, 1, 256, 256) on the device
    active = list(range(count))  # objects with an error left to click on
    prepared = model.prepare(embedding)
    for step in range(max_clicks):
        still = []
        for i in active:
            try:
                clicks[i].append(next_click(gts[i], preds[i], clicks[i]))
                still.append(i)
            except NothingToClick:
                pass
        for i in set(active) - set(still):
            ious[i].extend([ious[i][-1]] * (max_clicks - len(ious[i])))
        active = still
        if not active:
            break
        points = np.array([[c.point for c in clicks[i]] for i in active], np.float32)
        labels = np.array([[int(c.positive) for c in clicks[i]] for i in active], np.int64)
        coords = to_model_coords(
            points.reshape(-1, 2), embedding.original_size, embedding.input_size
        ).reshape(points.shape)
        first = step == 0
        with torch.inference_mode():
            coords_t = torch.from_numpy(coords).to(model.device)[:, None]  # (B, 1, k, 2)
            labels_t = torch.from_numpy(labels).to(model.device)[:, None]  # (B, 1, k)
            masks_in = None
            if not first:
                assert logits is not None
                masks_in = logits[active].to(model.device, model.dtype)
            sparse, dense = model.network.prompt_encoder(coords_t, labels_t, None, masks_in)
            low_res, scores = model._decoder(
                prepared, sparse[:, 0], None if first else dense, first
            )
            best = torch.argmax(scores.float(), dim=1)  # (B,)
            chosen = low_res[torch.arange(len(active), device=low_res.device), best]
            if logits is None:
                logits = torch.zeros(
                    (count, 1, *chosen.shape[-2:]), dtype=chosen.dtype, device=chosen.device
                )
            logits[active] = chosen[:, None]
        masks = _to_masks(model, embedding, chosen)
        for row, i in enumerate(active):
            preds[i] = masks[row]
            ious[i].append(iou(gts[i], masks[row]))
        if on_step is not None:
            on_step()
    return ious


def _to_masks(model: SegmentationModel, embedding: Embedding, low_res: torch.Tensor) -> np.ndarray:
    """(K, 256, 256) low-res logits -> (K, H, W) bool masks at the image size, the
    same resampling the labeling page keeps a mask with (`full_mask`)."""
    with torch.inference_mode():
        return low_res_to_masks(
            low_res, embedding.original_size, embedding.input_size, model.padded_size
        )
