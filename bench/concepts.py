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
* naive: `Sam3Model(pixel_values=..., input_ids=...)` per query (p50), followed by
  the same post-processing (scores, masks at image size, NMS), so both sides return
  the same instances and the ratio is the cost of recomputing the features.

`--threshold` (default 0.0) is the score threshold of both paths: random weights
score every one of SAM 3's 200 queries near 0.5, so 0.0 keeps all of them, the
worst case for the post-processing; a real checkpoint returns a handful.

    .venv/bin/python bench/concepts.py [--iters 5] [--naive-iters 2] [--threshold 0.0]

Prints one JSON line `{"bench": "concepts", "vision_s": ..., "query_cached_ms": ...,
"query_new_text_ms": ..., "naive_query_ms": ..., "speedup": ...}`; speedup = naive /
cached.

`--socket` times the other half instead, from a query sent to its instances shown
on the labeling page with the worker running (`bench/concepts_socket.py`, on a
reduced SAM 3 config: see there).
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

from bench import concepts_socket
from inference.concepts import ConceptModel
from inference.concepts.postprocess import instances
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
    parser.add_argument("--threshold", type=float, default=0.0)
    parser.add_argument(
        "--socket",
        action="store_true",
        help="instead: query sent to instances shown, through the page, socket and worker "
        "(bench/concepts_socket.py; a reduced SAM 3)",
    )
    concepts_socket.options(parser)
    args = parser.parse_args()
    if args.socket:
        print(json.dumps(concepts_socket.socket_bench(args)))
        return
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
    # Warm: "dog" is now cached, and its instances are what every query returns.
    found = model.find_instances(features, text="dog", threshold=args.threshold)
    cached = [timed(lambda: model.find_instances(features, text="dog", threshold=args.threshold))]
    cached += [
        timed(lambda: model.find_instances(features, text="dog", threshold=args.threshold))
        for _ in range(args.iters - 1)
    ]
    fresh = [
        timed(lambda word=word: model.find_instances(features, text=word, threshold=args.threshold))
        for word in WORDS[5 : 5 + args.iters]
    ]
    tokens = model.tokenizer(
        ["dog"], padding="max_length", max_length=32, truncation=True, return_tensors="pt"
    )
    pixels = model.pixels(image)

    def naive() -> None:
        with torch.inference_mode():
            outputs = network(
                pixel_values=pixels,
                input_ids=tokens["input_ids"].to(device),
                attention_mask=tokens["attention_mask"].to(device),
            )
        instances(outputs, features.size, threshold=args.threshold)

    naive_s = [timed(naive) for _ in range(args.naive_iters)]
    cached_p50 = statistics.median(cached)
    naive_p50 = statistics.median(naive_s)
    print(
        json.dumps(
            {
                "bench": "concepts",
                "vision_s": round(vision_s, 2),
                "query_cached_ms": round(cached_p50 * 1000, 1),
                "query_new_text_ms": round(statistics.median(fresh) * 1000, 1),
                "naive_query_ms": round(naive_p50 * 1000, 1),
                "speedup": round(naive_p50 / cached_p50, 1),
                "device": device,
                "params_m": round(params / 1e6, 1),
                "image": f"{WIDTH}x{HEIGHT}",
                "feature_mb": round(features.nbytes / 1e6, 1),
                "threshold": args.threshold,
                "instances": len(found),
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
