"""Concept-query latency: SAM 3 features computed once per image, then each phrase
answered by the prompt-side heads only, against the naive path (a full
`Sam3Model` forward, ViT included, for every query).

Full-size SAM 3 (`Sam3Config()` defaults, about 840M parameters) with random
weights (no download) and the tiny word-level tokenizer (a tokenizer's vocabulary
does not change the timings: every phrase is padded to 32 tokens). On one
1024x768 image it measures

* vision: `vision_features`, once;
* cached: `find_instances` on cached features with a phrase already asked (p50);
* new phrase: `find_instances` with a phrase never asked (text encoder included);
* naive: `Sam3Model(pixel_values=..., input_ids=...)` per query (p50).

    .venv/bin/python bench/concepts.py [--iters 5] [--naive-iters 2]

Prints one JSON line `{"bench": "concepts", ...}`; ratio = naive / cached.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inference.concepts import ConceptModel
from inference.concepts.testing import WORDS, tiny_tokenizer

HEIGHT, WIDTH = 768, 1024


def timed(call: object) -> float:
    start = time.perf_counter()
    call()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--naive-iters", type=int, default=2)
    args = parser.parse_args()
    from transformers import Sam3Config, Sam3Model

    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    network = Sam3Model(Sam3Config()).eval().to(device)
    params = sum(p.numel() for p in network.parameters())
    model = ConceptModel("bench", network, tiny_tokenizer(), "random")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)

    start = time.perf_counter()
    features = model.vision_features(image)
    vision_s = time.perf_counter() - start
    model.find_instances(features, text="dog", threshold=0.0)  # warm: "dog" is now cached
    cached = [timed(lambda: model.find_instances(features, text="dog", threshold=0.0))]
    cached += [
        timed(lambda: model.find_instances(features, text="dog", threshold=0.0))
        for _ in range(args.iters - 1)
    ]
    fresh = [
        timed(lambda word=word: model.find_instances(features, text=word, threshold=0.0))
        for word in WORDS[5 : 5 + args.iters]
    ]
    tokens = model.tokenizer(
        ["dog"], padding="max_length", max_length=32, truncation=True, return_tensors="pt"
    )
    pixels = model.pixels(image)

    def naive() -> None:
        with torch.inference_mode():
            network(
                pixel_values=pixels,
                input_ids=tokens["input_ids"].to(device),
                attention_mask=tokens["attention_mask"].to(device),
            )

    naive_s = [timed(naive) for _ in range(args.naive_iters)]
    cached_p50 = statistics.median(cached)
    naive_p50 = statistics.median(naive_s)
    print(
        json.dumps(
            {
                "bench": "concepts",
                "device": device,
                "params_m": round(params / 1e6, 1),
                "image": f"{WIDTH}x{HEIGHT}",
                "vision_features_ms": round(vision_s * 1000, 1),
                "feature_mb": round(features.nbytes / 1e6, 1),
                "cached_query_p50_ms": round(cached_p50 * 1000, 1),
                "new_phrase_p50_ms": round(statistics.median(fresh) * 1000, 1),
                "naive_query_p50_ms": round(naive_p50 * 1000, 1),
                "ratio_naive_over_cached": round(naive_p50 / cached_p50, 1),
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
