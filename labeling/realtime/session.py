"""One labeling socket's decoding: the decode pool, latest-wins, refinement state.

Decoding is CPU (or GPU) work of tens of milliseconds, so it never runs on the event
loop: every web process has one pool of `ANYMASK_DECODE_THREADS` threads shared by
all of its sockets. A socket has at most one job in the pool at a time (a session
keeps only the latest waiting prompt), so the pool's queue is bounded by the number
of sockets, never by how fast anyone clicks.

A session keeps what it last answered (`Decoded`, plain data, with the spec and
image content it was made for): `refine` feeds a candidate's low-res logits back
as the next prompt's mask, and `accept` turns a candidate into its full-size mask.
The engine objects themselves (model, embedding) are never held here; the pool's
jobs look them up in the engine's model cache and the embedding LRU.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

from inference import EncodedMask, ModelUnavailableError, PromptError
from labeling import category_store, embedding_store, metrics
from labeling.project_models import ModelRef, load_ref
from labeling.realtime.protocol import PromptRequest, Refusal, error_reply, masks_reply

if TYPE_CHECKING:
    from inference import Candidate, Decoded

logger = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def pool() -> ThreadPoolExecutor:
    """The process's decode pool, created at first use (not at import: no side effects)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            from inference import share_cores

            threads = settings.ANYMASK_DECODE_THREADS
            share_cores(threads, settings.ANYMASK_TORCH_THREADS)
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="decode")
        return _pool


Suggestions = list[tuple[int, float]] | None


def decode_job(request: PromptRequest, mask_logits: Any = None) -> tuple[Decoded, Suggestions]:
    """Runs in the decode pool: the model and embedding (both cached), then the decode,
    then each candidate's suggested category (when the project has a classifier). A
    request's finished `mask` becomes the mask prompt here (it needs the embedding)."""
    model = load_ref(request.model)
    embedding = embedding_store.require(model, request.sha256)
    if request.mask is not None:
        mask_logits = model.mask_prompt(embedding, request.mask)
    decoded = model.decode(embedding, request.prompt(mask_logits), request.preview_max_side)
    return decoded, suggest(embedding, decoded, request.category_head)


def suggest(embedding: Any, decoded: Decoded, category_head: str) -> Suggestions:
    """(category id, confidence) per candidate from the project's classifier; None
    without one (or when its file cannot be read: a click never fails for it)."""
    head = category_store.load(category_head)
    if head is None or not len(decoded):
        return None
    from inference.category_features import candidates_features

    return head.suggest(candidates_features(embedding, [c.low_res_logits for c in decoded]))


def full_mask_job(ref: ModelRef, sha256: str, low_res_logits: Any) -> EncodedMask:
    """Runs in the decode pool: a kept candidate's mask at the image's full size."""
    model = load_ref(ref)
    return model.full_mask(embedding_store.require(model, sha256), low_res_logits)


@dataclass(frozen=True)
class LatestMasks:
    """The socket's latest `masks` reply, and the model and image it was made with."""

    model: ModelRef
    sha256: str
    decoded: Decoded


Send = Callable[[dict[str, Any]], Awaitable[None]]


class DecodeSession:
    """Latest-wins decoding for one socket; `send` delivers a reply frame."""

    def __init__(self, send: Send, image_id: int) -> None:
        self._send, self.image_id = send, image_id
        self.waiting: PromptRequest | None = None
        self.latest: LatestMasks | None = None
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    def close(self) -> None:
        self.closed = True
        if self._task is not None:
            self._task.cancel()

    async def submit(self, request: PromptRequest) -> None:
        """Queue a checked prompt. A prompt still waiting is answered `superseded` and
        never decoded; a hover preview never pushes out a real prompt (it is the one
        dropped)."""
        if request.hover and self.waiting is not None and not self.waiting.hover:
            await self._send({"type": "superseded", "seq": request.seq})
            return
        if self.waiting is not None:
            await self._send({"type": "superseded", "seq": self.waiting.seq})
        self.waiting = request
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._decode_waiting())

    async def _decode_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        while self.waiting is not None and not self.closed:
            request, self.waiting = self.waiting, None
            try:
                mask_logits = None
                if request.refine is not None:  # resolved now: the latest masks so far
                    mask_logits = self.candidate(request.refine, request.model).low_res_logits
                started = time.perf_counter()
                decoded, suggestions = await loop.run_in_executor(
                    pool(),
                    decode_job,
                    request,
                    mask_logits,
                )
                metrics.DECODE_SECONDS.observe(time.perf_counter() - started)
            except Refusal as refusal:
                await self._send(error_reply(request.seq, refusal.code, refusal.detail))
                continue
            except PromptError as error:
                await self._send(error_reply(request.seq, "invalid_prompt", str(error)))
                continue
            except ModelUnavailableError as error:  # this process cannot load the model
                logger.warning(
                    "image %s: no masks, the model is unavailable: %s", self.image_id, error
                )
                await self._send(error_reply(request.seq, "model_unavailable", str(error)))
                continue
            except embedding_store.EmbeddingUnavailable as error:
                logger.warning("image %s: embedding unavailable: %s", self.image_id, error)
                detail = "This image's embedding could not be read."
                await self._send(error_reply(request.seq, "server_error", detail))
                continue
            except Exception:
                logger.exception("decoding a prompt for image %s failed", self.image_id)
                await self._send(error_reply(request.seq, "server_error", "Decoding failed."))
                continue
            if not request.hover:
                self.latest = LatestMasks(request.model, request.sha256, decoded)
            reply = masks_reply(request.seq, decoded, hover=request.hover, suggestions=suggestions)
            await self._send(reply)

    def candidate(self, index: int, model: ModelRef) -> Candidate:
        """Candidate `index` of the latest masks, made with the project's `model`."""
        latest = self.latest
        if latest is None or latest.model != model or index >= len(latest.decoded):
            raise Refusal("not_found", f"There is no candidate {index} in the latest masks.")
        return latest.decoded[index]

    async def full_mask(self, index: int, model: ModelRef) -> tuple[EncodedMask, float]:
        """Candidate `index` of the latest masks at full size, and its score. A
        candidate decoded at full size already is that mask; a preview's is decoded
        again from its logits, in the pool."""
        candidate = self.candidate(index, model)
        latest = self.latest
        assert latest is not None
        score = round(candidate.score, 4)
        if latest.decoded.shown == latest.decoded.size:
            return EncodedMask(candidate.rle, candidate.area, candidate.bbox), score
        mask = await asyncio.get_running_loop().run_in_executor(
            pool(), full_mask_job, model, latest.sha256, candidate.low_res_logits
        )
        return mask, score
