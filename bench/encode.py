"""Image encoder throughput and peak memory, ours against the plain transformers path.

For each model (full-size config, random weights, no download):

* ours:  `model.encode_batch` (numpy/Pillow pre-processing; bfloat16 where the
         hardware computes it natively, `inference.loading.dtype_for`; on CUDA also
         SDPA attention and batches of `--batch`);
* naive: transformers' processor + `get_image_embeddings`, one image at a time in
         float32 (SAM: `SamProcessor` with its Pillow image processor; SAM 2's
         processor needs torchvision, so its naive path uses our pre-processing
         and differs in precision and batching only).

Each (model, path) runs in a fresh subprocess so peak memory is its own: CUDA peak
allocated memory on a GPU, peak resident set size (RSS) on the CPU. On a CPU without
native bfloat16 both paths run float32, so expect them to be close; on one with it
(AVX512-BF16, AMX) and on a GPU, bfloat16 pays. Images are 1024x768 synthetic photos.

    .venv/bin/python bench/encode.py [--iters N] [--models sam-vit-base,...]

On CUDA it also measures our path at batch 1 against batch `--batch`
(`batch1_images_per_s`, `batching_speedup`: what the embeddings worker's
ANYMASK_EMBED_BATCH gains); on a CPU it skips that (the worker does not batch
there: one image saturates it) and says so, giving the batch-1 figure.

Prints a table, then one JSON line per model.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

# Run from a checkout: make the repository importable however the venv was installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HEIGHT, WIDTH = 768, 1024


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_child(name: str, path: str, iters: int, batch: int) -> dict[str, object]:
    """Time one path for one model in this (fresh) process."""
    from inference.loading import pick_device
    from inference.testing import build_random_model, synthetic_image

    device = pick_device()
    dtype = None if path == "ours" else torch.float32
    model = build_random_model(name, dtype=dtype)
    images = [synthetic_image(HEIGHT, WIDTH, seed=i) for i in range(max(iters, batch))]
    encode = _naive_encoder(model) if path == "naive" else None
    step = batch if path == "ours" else 1

    def run(chunk: list) -> None:
        if encode is None:
            model.encode_batch(chunk, batch_size=step)
        else:
            for image in chunk:
                encode(image)
        if device.type == "cuda":
            torch.cuda.synchronize()

    run(images[:step])  # warm-up: kernels, allocator, lazy init
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    run(images[:iters])
    elapsed = time.perf_counter() - started
    return {
        "images_per_s": round(iters / elapsed, 3),
        "peak_mem_mb": round(_peak_mb(device), 1),
        "device": str(device),
        "dtype": model.info.dtype,
        "batch_size": step,
    }


def _naive_encoder(model: Any) -> Callable[[np.ndarray], Any]:
    """transformers' processor + forward, as its documentation shows it."""
    if model.family == "sam":
        from transformers import SamProcessor
        from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

        processor = SamProcessor(image_processor=SamImageProcessorPil())

        def encode(image: np.ndarray) -> Any:
            inputs = processor(images=image, return_tensors="pt")
            with torch.no_grad():
                return model.network.get_image_embeddings(inputs["pixel_values"].to(model.device))

        return encode

    def encode_sam2(image: np.ndarray) -> Any:
        pixels, _ = model.preprocess(image)
        batch = torch.from_numpy(pixels)[None].to(model.device)
        with torch.no_grad():
            return model.network.get_image_embeddings(batch)

    return encode_sam2


def _spawn(name: str, path: str, iters: int, batch: int) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", name, path, str(iters), str(batch)]
    # Our own script with our own arguments: a fresh process per measurement.
    done = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        name, path, iters, batch = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        print(json.dumps(run_child(name, path, iters, batch)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    gpu = torch.cuda.is_available()
    parser.add_argument("--iters", type=int, default=64 if gpu else 3, help="images per path")
    parser.add_argument("--batch", type=int, default=8 if gpu else 1, help="our batch size")
    parser.add_argument("--models", default="sam-vit-base,sam2.1-hiera-tiny")
    args = parser.parse_args()
    results = []
    for name in args.models.split(","):
        ours = _spawn(name, "ours", args.iters, args.batch)
        naive = _spawn(name, "naive", args.iters, args.batch)
        batching: dict[str, object]
        if gpu and args.batch > 1:
            single = _spawn(name, "ours", args.iters, 1)
            batching = {
                "batch1_images_per_s": single["images_per_s"],
                "batching_speedup": round(
                    float(ours["images_per_s"]) / float(single["images_per_s"]),  # type: ignore[arg-type]
                    2,
                ),
            }
        elif gpu:
            batching = {"batching": "skipped: --batch 1"}
        else:
            batch1 = ours if args.batch == 1 else _spawn(name, "ours", args.iters, 1)
            batching = {
                "batching": "skipped on CPU (the worker encodes one image at a time there)",
                "batch1_images_per_s": batch1["images_per_s"],
            }
        results.append(
            {
                "bench": "encode",
                "model": name,
                "device": ours["device"],
                "dtype": ours["dtype"],
                "batch_size": ours["batch_size"],
                "images": args.iters,
                "images_per_s": ours["images_per_s"],
                "peak_mem_mb": ours["peak_mem_mb"],
                "naive_dtype": naive["dtype"],
                "naive_images_per_s": naive["images_per_s"],
                "naive_peak_mem_mb": naive["peak_mem_mb"],
                "speedup": round(float(ours["images_per_s"]) / float(naive["images_per_s"]), 2),  # type: ignore[arg-type]
                **batching,
            }
        )
    header = ("model", "img/s", "peak MB", "naive img/s", "naive MB", "speedup")
    print("{:<22}{:>9}{:>10}{:>13}{:>10}{:>9}".format(*header))
    for r in results:
        print(
            f"{r['model']:<22}{r['images_per_s']:>9}{r['peak_mem_mb']:>10}"
            f"{r['naive_images_per_s']:>13}{r['naive_peak_mem_mb']:>10}{r['speedup']:>8}x"
            f"   ({r['device']}, {r['dtype']}, batch {r['batch_size']})"
        )
    for r in results:
        if "batching_speedup" in r:
            print(
                f"{r['model']}: batch 1 {r['batch1_images_per_s']} img/s, batch "
                f"{r['batch_size']} {r['images_per_s']} img/s ({r['batching_speedup']}x)"
            )
        else:
            print(
                f"{r['model']}: batching {r['batching']}; batch 1 "
                f"{r.get('batch1_images_per_s', r['images_per_s'])} img/s"
            )
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
