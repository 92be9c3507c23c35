"""Evaluator throughput: simulated clicks per second, fast path against a naive loop.

One 1024x768 image is encoded once with a full-size model (random weights, no
download; coherent masks as trained weights give); its objects are discs of the
synthetic image. Then the RITM protocol runs on every object, `--clicks` each,

* fast:  `inference.evaluation.simulate_image`: all objects of the image batched
         into one call of the fast decoder per click step (cached image-side
         tensors), masks resampled straight from the low-res logits;
* naive: per object and per click, transformers' `SamModel.forward` with the
         precomputed `image_embeddings` (its prompt encoder and mask decoder), the
         previous low-res logits as `input_masks`, then its reference
         post-processing (bilinear to 1024, crop, bilinear to the image).

Both place clicks with the same `next_click` and compute IoU the same way, so the
ratio is the decoder path's. Uses CUDA when present, else the CPU.

    .venv/bin/python bench/evaluate.py [--model sam-vit-base] [--objects 8] [--clicks 20]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inference import Prompt
from inference.embedding import Embedding
from inference.evaluation.clicks import Click, NothingToClick, iou, next_click
from inference.evaluation.simulate import simulate_image
from inference.model import SegmentationModel, reference_inputs
from inference.testing import build_random_model, synthetic_image

HEIGHT, WIDTH = 768, 1024


def objects(count: int) -> list[np.ndarray]:
    """`count` discs spread over the image (sizes as objects in a photo)."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    found = []
    for _ in range(count):
        cy, cx = rng.uniform(0.2, 0.8) * HEIGHT, rng.uniform(0.2, 0.8) * WIDTH
        radius = rng.uniform(0.05, 0.2) * HEIGHT
        found.append((yy - cy) ** 2 + (xx - cx) ** 2 < radius**2)
    return found


def naive_instance(
    model: SegmentationModel, embedding: Embedding, gt: np.ndarray, clicks: int
) -> list[float]:
    """The protocol as a straightforward loop over the HF module's forward."""
    image_embeddings = embedding.tensors["image_embeddings"].to(model.device, model.dtype)
    placed: list[Click] = []
    pred: np.ndarray | None = None
    logits: np.ndarray | None = None
    curve: list[float] = []
    for _ in range(clicks):
        try:
            placed.append(next_click(gt, pred, placed))
        except NothingToClick:
            break
        prompt = Prompt(
            points=[c.point for c in placed],
            labels=[int(c.positive) for c in placed],
            mask_logits=logits,
        )
        with torch.inference_mode():
            out = model.network(
                image_embeddings=image_embeddings,
                multimask_output=bool(prompt.multimask),
                **reference_inputs(model, embedding, prompt),
            )
            scores = out.iou_scores[0, 0].float()
            best = int(torch.argmax(scores))
            low_res = out.pred_masks[0, 0, best : best + 1].float()
            size = model.image_size
            full = F.interpolate(low_res[None], (size, size), mode="bilinear", align_corners=False)
            in_h, in_w = embedding.input_size
            full = F.interpolate(
                full[..., :in_h, :in_w],
                embedding.original_size,
                mode="bilinear",
                align_corners=False,
            )[0, 0]
            pred = (full > 0).cpu().numpy()
        logits = low_res.cpu().numpy()
        curve.append(iou(gt, pred))
    return curve


def clicks_made(curve: list[float], budget: int) -> int:
    return curve.index(1.0) + 1 if curve and curve[-1] == 1.0 else budget


def sync(model: SegmentationModel) -> None:
    if model.device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sam-vit-base")
    parser.add_argument("--objects", type=int, default=8)
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds (after a warm-up)")
    args = parser.parse_args()
    model = build_random_model(args.model, coherent=True)
    embedding = model.encode(synthetic_image(HEIGHT, WIDTH))
    gts = objects(args.objects)
    # Warm-up: first-call costs (prepared image tensors, kernels) stay out of the timing.
    simulate_image(model, embedding, gts[:1], 2)
    naive_instance(model, embedding, gts[0], 2)
    fast_s = naive_s = 0.0
    fast_clicks = naive_clicks = 0
    differences: list[float] = []
    for _ in range(args.rounds):
        sync(model)
        started = time.perf_counter()
        fast = simulate_image(model, embedding, gts, args.clicks)
        sync(model)
        fast_s += time.perf_counter() - started
        started = time.perf_counter()
        naive = [naive_instance(model, embedding, gt, args.clicks) for gt in gts]
        sync(model)
        naive_s += time.perf_counter() - started
        naive_clicks += sum(len(c) for c in naive)
        # A curve that reached a perfect mask repeats it to the end: not clicks.
        fast_clicks += sum(clicks_made(c, args.clicks) for c in fast)
        for a, b in zip(fast, naive, strict=True):
            differences.extend(abs(x - y) for x, y in zip(a, b, strict=False))
    clicks_per_s = fast_clicks / fast_s
    naive_clicks_per_s = naive_clicks / naive_s
    print(
        json.dumps(
            {
                "bench": "evaluate",
                "model": args.model,
                "device": str(model.device),
                "dtype": model.info.dtype,
                "image": f"{WIDTH}x{HEIGHT}",
                "objects": args.objects,
                "clicks_per_object": args.clicks,
                "clicks_per_s": round(clicks_per_s, 1),
                "naive_clicks_per_s": round(naive_clicks_per_s, 1),
                "ratio": round(clicks_per_s / naive_clicks_per_s, 2),
                # Same protocol, same clicks: the two paths' IoUs agree to rounding.
                "median_iou_difference": round(float(np.median(differences)), 4),
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
