"""Click-to-mask latency: one click -> candidate masks at image size -> COCO RLE.

For each model, one 1024x768 image is encoded once; then every iteration takes a
random click through

* fast:  `model.decode` (cached image-side tensors, re-associated attention,
         cropped upsampling, then every candidate's RLE, area and bbox);
* naive: `reference_decode` (transformers' full `forward` with the precomputed
         image embeddings + the arithmetic of its `post_process_masks`, then the
         same RLE, area and bbox),

interleaved, so both see the same machine load. Models are full-size configs
with random weights (no download) whose transposed-conv kernels are tied, so masks
are blobs with a real mask's RLE size rather than noise (`make_masks_coherent`).
Uses CUDA when present, else the CPU.

    .venv/bin/python bench/decode.py [--iters 60] [--models sam-vit-base,...]

Prints a table, then one JSON line per model.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

# Run from a checkout: make the repository importable however the venv was installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inference import Prompt
from inference.testing import build_random_model, synthetic_image

HEIGHT, WIDTH = 768, 1024


def _percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.array(samples) * 1000, q))


def bench_model(name: str, iters: int, warmup: int) -> dict[str, object]:
    # Blob-shaped masks as trained weights give; noise masks would time their RLE.
    model = build_random_model(name, coherent=True)
    image = synthetic_image(HEIGHT, WIDTH)
    embedding = model.encode(image)
    rng = np.random.default_rng(0)
    paths = {"fast": model.decode, "naive": model.reference_decode}  # type: ignore[attr-defined]
    times: dict[str, list[float]] = {"fast": [], "naive": []}
    sizes: list[int] = []
    for i in range(warmup + iters):
        prompt = Prompt.click(float(rng.uniform(0, WIDTH)), float(rng.uniform(0, HEIGHT)))
        for label, decode in paths.items():
            if model.device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            rles = [candidate.rle for candidate in decode(embedding, prompt)]
            elapsed = time.perf_counter() - started
            if i >= warmup:
                times[label].append(elapsed)
                if label == "fast":
                    sizes.append(sum(len(r["counts"]) for r in rles))
    p50, naive_p50 = _percentile(times["fast"], 50), _percentile(times["naive"], 50)
    return {
        "bench": "decode",
        "model": name,
        "device": str(model.device),
        "dtype": model.info.dtype,
        "image": f"{WIDTH}x{HEIGHT}",
        "iters": iters,
        "p50_ms": round(p50, 2),
        "p95_ms": round(_percentile(times["fast"], 95), 2),
        "naive_p50_ms": round(naive_p50, 2),
        "naive_p95_ms": round(_percentile(times["naive"], 95), 2),
        "speedup": round(naive_p50 / p50, 2),
        "rle_chars_mean": round(statistics.mean(sizes)),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--models", default="sam-vit-base,sam2.1-hiera-tiny")
    args = parser.parse_args()
    results = [bench_model(name, args.iters, args.warmup) for name in args.models.split(",")]
    print(f"{'model':<22}{'p50':>9}{'p95':>9}{'naive p50':>11}{'naive p95':>11}{'speedup':>9}")
    for r in results:
        print(
            f"{r['model']:<22}{r['p50_ms']:>9}{r['p95_ms']:>9}{r['naive_p50_ms']:>11}"
            f"{r['naive_p95_ms']:>11}{r['speedup']:>8}x   ({r['device']}, {r['dtype']})"
        )
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
