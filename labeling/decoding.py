"""Prompt decoding for the labeling websocket: a bounded pool and an embedding LRU.

Decoding is CPU (or GPU) work of tens of milliseconds, so it never runs on the event
loop: every web process has one pool of `ANYMASK_DECODE_THREADS` threads shared by all
of its sockets. A socket has at most one job in the pool at a time (the consumer
keeps only the latest waiting prompt), so the pool's queue is bounded by the number
of sockets, never by how fast anyone clicks.

Embeddings come from storage through a per-process LRU of `ANYMASK_EMBEDDING_CACHE_SIZE`
entries keyed by storage key (image content + model), so clicking on one image reads
its embedding once, and the image-side tensors the decoder derives at the first
decode (`SegmentationModel.prepare`) stay cached with it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings

from labeling import embeddings

if TYPE_CHECKING:
    from inference import Embedding, Prompt, SegmentationModel


class EmbeddingUnavailable(Exception):
    """The image is marked ready but its embedding is missing or unreadable."""


@dataclass(frozen=True)
class Decoded:
    """One `masks` reply, plus what the socket keeps for refine and accept.

    candidates: the protocol's candidate objects (rle, score, bbox, area), best first.
    low_res: per candidate, its (1, 256, 256) float32 logits, in the same order.
    """

    size: tuple[int, int]
    scale: float
    decode_ms: float
    candidates: list[dict[str, Any]]
    low_res: list[np.ndarray]


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_cache: OrderedDict[str, Embedding] = OrderedDict()
_cache_lock = threading.Lock()


def pool() -> ThreadPoolExecutor:
    """The process's decode pool, created at first use (not at import: no side effects)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            import torch

            threads = settings.ANYMASK_DECODE_THREADS
            torch.set_num_threads(torch_threads_per_decode(threads))
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="decode")
        return _pool


def torch_threads_per_decode(decode_threads: int) -> int:
    """Each decode thread's share of the cores (or `ANYMASK_TORCH_THREADS`).

    Each thread that runs a torch op brings its own team of `torch.get_num_threads()`
    workers, and torch's default is one per core: two decode threads would then run
    four spinning workers on two cores, and under load every decode takes several
    times longer. Giving each thread its share keeps the total at the core count.
    """
    if settings.ANYMASK_TORCH_THREADS:
        return int(settings.ANYMASK_TORCH_THREADS)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // decode_threads)


def model_for(spec: str) -> SegmentationModel:
    from inference import load_model

    return load_model(spec)


def load_embedding(model: SegmentationModel, sha256: str, spec: str) -> Embedding:
    """The image's embedding for `model`, from the LRU or else from storage."""
    from inference import EmbeddingError

    key = embeddings.storage_key(sha256, spec)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    data = embeddings.read_stored(key)
    if data is None:
        raise EmbeddingUnavailable("the stored embedding is missing")
    try:
        embedding = model.embedding_from_bytes(data)
    except EmbeddingError as error:
        raise EmbeddingUnavailable(str(error)) from error
    with _cache_lock:
        # Two threads may read the same embedding at once; keep whichever came first.
        embedding = _cache.setdefault(key, embedding)
        _cache.move_to_end(key)
        while len(_cache) > settings.ANYMASK_EMBEDDING_CACHE_SIZE:
            _cache.popitem(last=False)
    return embedding


def clear_embedding_cache() -> None:
    with _cache_lock:
        _cache.clear()


def preview_size(original: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """(h, w) of candidates sent for an image of `original` size (h, w)."""
    height, width = original
    if max_side is None or max(height, width) <= max_side:
        return original
    scale = max_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def decode(
    model: SegmentationModel,
    embedding: Embedding,
    prompt: Prompt,
    preview_max_side: int | None,
) -> Decoded:
    """Decode one prompt into protocol candidates (raises `PromptError`)."""
    import torch

    from inference.mask_upsample import low_res_to_masks
    from inference.masks import rle_area_bbox, rle_encode

    started = time.perf_counter()
    low_res, scores = model.decode_logits(embedding, prompt)
    order = torch.argsort(scores, descending=True, stable=True)
    low_res, scores = low_res[order], scores[order]
    original = embedding.original_size
    shown = preview_size(original, preview_max_side)
    with torch.inference_mode():
        # A preview is resampled straight from the low-res logits to its own size:
        # a 50-megapixel image never gets full-size masks until one is accepted.
        masks = low_res_to_masks(low_res, shown, embedding.input_size, model.padded_size)
    scale_y, scale_x = shown[0] / original[0], shown[1] / original[1]
    candidates = []
    for i in range(len(scores)):
        rle = rle_encode(masks[i])
        area, (x, y, w, h) = rle_area_bbox(rle)
        if shown != original:  # bbox and area are always in full-image pixels
            x, y, w, h = x / scale_x, y / scale_y, w / scale_x, h / scale_y
            area = round(area / (scale_x * scale_y))
        candidates.append(
            {"rle": rle, "score": round(float(scores[i]), 4), "bbox": [x, y, w, h], "area": area}
        )
    logits = low_res.float().cpu().numpy()
    return Decoded(
        size=original,
        scale=shown[1] / original[1],
        decode_ms=round((time.perf_counter() - started) * 1000, 1),
        candidates=candidates,
        low_res=[logits[i : i + 1] for i in range(len(candidates))],
    )


def full_mask_rle(
    model: SegmentationModel, embedding: Embedding, low_res: np.ndarray
) -> dict[str, Any]:
    """A kept candidate at full image resolution, as COCO RLE (what `accept` stores).

    Always recomputed from the low-res logits, never scaled up from a preview.
    """
    import torch

    from inference.mask_upsample import low_res_to_masks
    from inference.masks import rle_encode

    with torch.inference_mode():
        masks = low_res_to_masks(
            torch.from_numpy(low_res),
            embedding.original_size,
            embedding.input_size,
            model.padded_size,
        )
    return rle_encode(masks[0])
