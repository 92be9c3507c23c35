"""What a category suggestion adds to a click, against the click's decode itself.

Full-size SAM ViT-B (random weights, coherent masks), a stored-shape embedding of a
1024x768 image (float16 (1, 256, 64, 64), as the socket reads it from storage), and a
trained logistic head of 10 categories. Every iteration takes a random click:

* decode: `model.decode` (what the socket's decode job does first);
* suggest: the socket's suggestion for all its candidates: their low-res logits ->
  features on the embedding grid (`candidates_features`) -> `head.suggest`;
* naive suggest: the obvious way: decode each candidate's full-size RLE, map the mask
  onto the grid (`rle_features`), with the embedding converted to float32 again
  (no per-embedding cache), then the same head.

interleaved in the same run. The float32 copy of the embedding grid is made once per
image (`grid_once_ms`, on the first click). Target: suggest under 2 ms at the p50.

    .venv/bin/python bench/suggest.py [--iters 60]

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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inference import Prompt
from inference.category_features import (
    _GRID_KEY,
    candidates_features,
    embedding_grid,
    feature_count,
    rle_features,
)
from inference.category_head import train_head
from inference.embedding import Embedding
from inference.testing import build_random_model

HEIGHT, WIDTH = 768, 1024
CATEGORIES = 10


def _p(samples: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(samples) * 1000, q)), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()

    model = build_random_model("sam-vit-base", coherent=True)
    gen = torch.Generator().manual_seed(0)
    tensor = torch.randn(1, 256, 64, 64, generator=gen).to(torch.float16)
    embedding = Embedding(
        model.spec, "sam", (HEIGHT, WIDTH), (HEIGHT, WIDTH), {"image_embeddings": tensor}
    )
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, feature_count(256))).astype(np.float32)
    head = train_head(features, [i % CATEGORIES for i in range(400)])

    start = time.perf_counter()
    embedding_grid(embedding)
    grid_once = time.perf_counter() - start

    times: dict[str, list[float]] = {"decode": [], "suggest": [], "naive": []}
    for i in range(args.warmup + args.iters):
        prompt = Prompt.click(float(rng.uniform(0, WIDTH)), float(rng.uniform(0, HEIGHT)))
        t0 = time.perf_counter()
        decoded = model.decode(embedding, prompt)
        t1 = time.perf_counter()
        head.suggest(candidates_features(embedding, [c.low_res_logits for c in decoded]))
        t2 = time.perf_counter()
        cached = embedding.prepared.pop(_GRID_KEY)
        naive_rows = np.stack([rle_features(embedding, c.rle) for c in decoded])
        embedding.prepared.pop(_GRID_KEY)
        head.suggest(naive_rows)
        t3 = time.perf_counter()
        embedding.prepared[_GRID_KEY] = cached
        if i >= args.warmup:
            times["decode"].append(t1 - t0)
            times["suggest"].append(t2 - t1)
            times["naive"].append(t3 - t2)

    suggest, decode, naive = (_p(times[k], 50) for k in ("suggest", "decode", "naive"))
    print(
        json.dumps(
            {
                "bench": "suggest",
                "model": "sam-vit-base",
                "dtype": str(model.dtype).removeprefix("torch."),
                "device": model.device.type,
                "torch_threads": torch.get_num_threads(),
                "iters": args.iters,
                "candidates": len(decoded),
                "categories": CATEGORIES,
                "suggest_ms_p50": suggest,
                "suggest_ms_p95": _p(times["suggest"], 95),
                "decode_ms_p50": decode,
                "suggest_vs_decode": round(suggest / decode, 4),
                "naive_suggest_ms_p50": naive,
                "speedup_vs_naive": round(naive / suggest, 2),
                "grid_once_ms": round(grid_once * 1000, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
