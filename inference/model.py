"""The engine surface shared by every family: encode an image, decode a prompt.

`SegmentationModel` wraps a transformers network (`SamModel` or `Sam2Model`) and
owns everything around it: pre-processing, prompt coordinates, the fast mask
decoder (`decoder.FastMaskDecoder`), post-processing to image-sized masks and the
checks that keep a stored embedding from meeting the wrong model. The family
modules (`sam.py`, `sam2.py`) fill in what differs: resizing, the encoder outputs
and how low-res logits map back to the image.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from .candidates import Decoded, EncodedMask, preview_size, to_candidates
from .decoder import FastMaskDecoder, PreparedImage
from .embedding import Embedding, embedding_from_bytes
from .errors import EmbeddingError, PromptError
from .mask_prompts import mask_prompt_logits
from .mask_upsample import low_res_to_masks
from .postprocess import upscale_logits
from .preprocess import check_image, to_model_coords
from .prompts import Prompt
from .specs import Family, embedding_shapes


@dataclass(frozen=True)
class ModelInfo:
    """What was loaded, where, and how long it took (for logs and the admin page)."""

    spec: str
    family: Family
    source: str
    device: str
    dtype: str
    parameters: int
    load_seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class SegmentationModel(abc.ABC):
    """A loaded SAM-family model. Thread-safe: decode may run on many threads at once."""

    family: ClassVar[Family]
    pads_input: ClassVar[bool]
    """True when the input is the resized image zero-padded to a square (SAM)."""

    def __init__(self, spec: str, network: Any, source: str, load_seconds: float):
        # network: a transformers SamModel / Sam2Model, typed Any because nn.Module
        # resolves its sub-modules dynamically.
        self.spec = spec
        self.network = network.eval()
        first = next(network.parameters())
        self.device, self.dtype = first.device, first.dtype
        prompt_config = self.network.config.prompt_encoder_config
        self.image_size = int(prompt_config.image_size)
        self.grid = self.image_size // int(prompt_config.patch_size)
        self.low_res_size = 4 * self.grid
        self.padded_size = self.image_size if self.pads_input else None
        self.channels = int(prompt_config.hidden_size)
        self.embedding_shapes = embedding_shapes(self.family, self.channels, self.grid)
        with torch.inference_mode():
            image_pe = self.network.get_image_wide_positional_embeddings()
        self._decoder = FastMaskDecoder(
            self.network.mask_decoder, image_pe, self.network.prompt_encoder.no_mask_embed.weight
        )
        self.info = ModelInfo(
            spec=spec,
            family=self.family,
            source=source,
            device=str(self.device),
            dtype=str(self.dtype).removeprefix("torch."),
            parameters=sum(p.numel() for p in network.parameters()),
            load_seconds=round(load_seconds, 3),
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec!r} on {self.device} ({self.info.dtype})>"

    # ------------------------------------------------------------------ encode
    @abc.abstractmethod
    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """HxWx3 uint8 -> ((3, S, S) float32 model input, (h, w) resized image size)."""

    @abc.abstractmethod
    def _run_encoder(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 3, S, S) -> embedding tensors with a leading batch axis B."""

    def encode(self, image: np.ndarray) -> Embedding:
        """Embed one HxWx3 uint8 RGB image (the slow, once-per-image half)."""
        return self.encode_batch([image])[0]

    def encode_batch(
        self, images: Sequence[np.ndarray], batch_size: int | None = None
    ) -> list[Embedding]:
        """Embed several images, `batch_size` at a time.

        Batching pays on a GPU (default 8 there); a CPU is saturated by one image,
        so the default there is 1, which also keeps peak memory low.
        """
        if batch_size is None:
            batch_size = 8 if self.device.type == "cuda" else 1
        batch_size = max(1, batch_size)
        results: list[Embedding] = []
        for start in range(0, len(images), batch_size):
            chunk = [check_image(image) for image in images[start : start + batch_size]]
            inputs = [self.preprocess(image) for image in chunk]
            pixels = torch.from_numpy(np.stack([pixels for pixels, _ in inputs]))
            with torch.inference_mode():
                outputs = self._run_encoder(pixels.to(self.device, self.dtype))
            for i, (image, (_, input_size)) in enumerate(zip(chunk, inputs, strict=True)):
                tensors = {name: t[i : i + 1].clone() for name, t in outputs.items()}
                original = (int(image.shape[0]), int(image.shape[1]))
                results.append(Embedding(self.spec, self.family, original, input_size, tensors))
        return results

    # --------------------------------------------------------------- embedding
    def embedding_from_bytes(self, data: bytes) -> Embedding:
        """`embedding_from_bytes` for this model, shapes checked against its config."""
        embedding = embedding_from_bytes(data, self.spec)
        self.check_embedding(embedding)
        return embedding

    def check_embedding(self, embedding: Embedding) -> None:
        """Raise `EmbeddingError` unless `embedding` was made by this model."""
        if not isinstance(embedding, Embedding):
            raise EmbeddingError(f"expected an Embedding, got {type(embedding).__name__}")
        if embedding.spec != self.spec or embedding.family != self.family:
            raise EmbeddingError(
                f"embedding was computed by {embedding.spec!r} ({embedding.family}), "
                f"but this model is {self.spec!r} ({self.family}); recompute it"
            )
        actual = {name: tuple(t.shape) for name, t in embedding.tensors.items()}
        if actual != self.embedding_shapes:
            raise EmbeddingError(
                f"embedding tensors {actual} do not fit {self.spec!r} "
                f"(expected {self.embedding_shapes})"
            )

    def prepare(self, embedding: Embedding) -> PreparedImage:
        """Prompt-independent decoder inputs, computed at the first decode and kept
        on the embedding (keyed by model, so one embedding can serve two devices)."""
        prepared = embedding.prepared.get(self)
        if prepared is None:
            self.check_embedding(embedding)
            tensors = {k: v.to(self.device, self.dtype) for k, v in embedding.tensors.items()}
            with torch.inference_mode():
                prepared = self._decoder.prepare(
                    tensors["image_embeddings"], self._high_res(tensors)
                )
            embedding.prepared[self] = prepared
        return prepared

    def _high_res(
        self, tensors: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        return None

    # ------------------------------------------------------------------ decode
    def decode(self, embedding: Embedding, prompt: Prompt, max_side: int | None = None) -> Decoded:
        """Candidates for one prompt, best predicted IoU first (3 if multimask, else 1),
        as RLE with their scores, boxes, areas and low-res logits.

        With `max_side`, an image larger than that gets its candidates at a preview
        size (longest side `max_side`), resampled straight from the low-res logits:
        a 50-megapixel image never gets full-size masks until one is kept
        (`full_mask`). Raises `PromptError` for a prompt outside the image.
        """
        started = time.perf_counter()
        low_res, scores = self.decode_logits(embedding, prompt)
        order = torch.argsort(scores, descending=True, stable=True)
        low_res, scores = low_res[order], scores[order]
        shown = preview_size(embedding.original_size, max_side)
        with torch.inference_mode():
            masks = low_res_to_masks(low_res, shown, embedding.input_size, self.padded_size)
        candidates = to_candidates(
            masks, scores.float().tolist(), low_res.float().cpu().numpy(), embedding.original_size
        )
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        return Decoded(embedding.original_size, shown, elapsed, candidates)

    def full_mask(self, embedding: Embedding, low_res_logits: np.ndarray) -> EncodedMask:
        """A candidate's mask at the full image size, from its (1, 256, 256) low-res
        logits: always recomputed from them, never scaled up from a preview."""
        with torch.inference_mode():
            masks = low_res_to_masks(
                torch.from_numpy(np.ascontiguousarray(low_res_logits, np.float32)),
                embedding.original_size,
                embedding.input_size,
                self.padded_size,
            )
        return EncodedMask.of(masks[0])

    def mask_prompt(self, embedding: Embedding, mask: Any) -> np.ndarray:
        """A finished mask of the image (bool (H, W), or COCO RLE) as the (1, 256, 256)
        `Prompt.mask_logits` that refine it (`mask_prompts`): how a SAM 3 instance
        becomes this model's prompt. Raises `PromptError` for a mask of another size."""
        size = tuple(mask["size"]) if isinstance(mask, dict) else np.shape(mask)
        if tuple(int(v) for v in size) != embedding.original_size:
            raise PromptError(
                f"the mask prompt is {size[-1]}x{size[0]} but the image is "
                f"{embedding.original_size[1]}x{embedding.original_size[0]}"
            )
        return mask_prompt_logits(mask, embedding.input_size, self.image_size, self.low_res_size)

    def decode_logits(
        self, embedding: Embedding, prompt: Prompt
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Low-res logits (m, 256, 256) and scores (m,) in model order, on the device."""
        if not isinstance(prompt, Prompt):
            raise PromptError(f"expected a Prompt, got {type(prompt).__name__}")
        prompt.check_bounds(*embedding.original_size)
        prepared = self.prepare(embedding)
        with torch.inference_mode():
            sparse, dense = self._embed_prompt(embedding, prompt)
            logits, scores = self._decoder(prepared, sparse, dense, bool(prompt.multimask))
        return logits[0], scores[0]

    def decode_points_batch(
        self, embedding: Embedding, points: np.ndarray, multimask: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One positive click per prompt, B prompts at once (automatic mask generation).

        points: (B, 2) x, y in original-image pixels. Returns low-res logits
        (B, m, 256, 256) and predicted IoU (B, m) on the device.
        """
        points = np.asarray(points, np.float32).reshape(-1, 2)
        coords = to_model_coords(points, embedding.original_size, embedding.input_size)
        prepared = self.prepare(embedding)
        with torch.inference_mode():
            coords_t = torch.from_numpy(coords).to(self.device)[None, :, None, :]
            labels = torch.ones(coords_t.shape[:3], dtype=torch.long, device=self.device)
            sparse, _ = self.network.prompt_encoder(coords_t, labels, None, None)
            return self._decoder(prepared, sparse[0], None, multimask)

    def decode_clicks_batch(
        self,
        embedding: Embedding,
        points: np.ndarray,
        labels: np.ndarray,
        mask_logits: torch.Tensor | None,
        multimask: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """B prompts of k clicks each, with optional previous masks, at once (the
        evaluator's simulated annotators, one per object of the image).

        points: (B, k, 2) x, y in original-image pixels; labels: (B, k) 1 / 0;
        mask_logits: (B, 1, 256, 256) on any device, or None. Returns low-res logits
        (B, m, 256, 256) and predicted IoU (B, m) on the device, m = 3 if multimask.
        """
        points = np.asarray(points, np.float32)
        coords = to_model_coords(
            points.reshape(-1, 2), embedding.original_size, embedding.input_size
        ).reshape(points.shape)
        prepared = self.prepare(embedding)
        with torch.inference_mode():
            coords_t = torch.from_numpy(coords).to(self.device)[:, None]  # (B, 1, k, 2)
            labels_t = torch.from_numpy(np.asarray(labels, np.int64)).to(self.device)[:, None]
            masks = None if mask_logits is None else mask_logits.to(self.device, self.dtype)
            sparse, dense = self.network.prompt_encoder(coords_t, labels_t, None, masks)
            return self._decoder(
                prepared, sparse[:, 0], dense if masks is not None else None, multimask
            )

    def upscale_logits(self, embedding: Embedding, low_res: torch.Tensor) -> torch.Tensor:
        """(K, 256, 256) low-res logits -> (K, H, W) float32 logits at the image size.

        The (H, W) planes are column-major views (see `postprocess.upscale_logits`).
        """
        with torch.inference_mode():
            return upscale_logits(
                low_res, embedding.original_size, embedding.input_size, self.padded_size
            )

    def _embed_prompt(
        self, embedding: Embedding, prompt: Prompt
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Prompt -> sparse tokens (1, n, C) and dense mask embedding (1, C, G, G) or None."""
        device = self.device
        points = labels = box = mask = None
        if len(prompt.points):
            coords = to_model_coords(prompt.points, embedding.original_size, embedding.input_size)
            points = torch.from_numpy(coords).to(device)[None, None]  # (1, 1, N, 2)
            labels = torch.from_numpy(prompt.labels).to(device)[None, None]  # (1, 1, N)
        if prompt.box is not None:
            corners = prompt.box.reshape(2, 2)
            coords = to_model_coords(corners, embedding.original_size, embedding.input_size)
            box = torch.from_numpy(coords.reshape(1, 1, 4)).to(device)
        if prompt.mask_logits is not None:
            mask = torch.from_numpy(prompt.mask_logits).to(device, self.dtype)[None]
        sparse, dense = self.network.prompt_encoder(points, labels, box, mask)
        return sparse[0], (dense if mask is not None else None)


def reference_inputs(
    model: SegmentationModel, embedding: Embedding, prompt: Prompt
) -> dict[str, torch.Tensor]:
    """Prompt -> keyword arguments of `SamModel.forward` / `Sam2Model.forward`.

    input_points (1, 1, N, 2), input_labels (1, 1, N), input_boxes (1, 1, 4),
    input_masks (1, 1, 256, 256), coordinates in model input space.
    """
    kwargs: dict[str, torch.Tensor] = {}
    sizes = (embedding.original_size, embedding.input_size)
    if len(prompt.points):
        points = torch.from_numpy(to_model_coords(prompt.points, *sizes))
        kwargs["input_points"] = points[None, None].to(model.device)
        kwargs["input_labels"] = torch.from_numpy(prompt.labels)[None, None].to(model.device)
    if prompt.box is not None:
        box = to_model_coords(prompt.box.reshape(2, 2), *sizes).reshape(1, 1, 4)
        kwargs["input_boxes"] = torch.from_numpy(box).to(model.device)
    if prompt.mask_logits is not None:
        mask = torch.from_numpy(prompt.mask_logits)[None]
        kwargs["input_masks"] = mask.to(model.device, model.dtype)
    return kwargs


def reference_candidates(
    embedding: Embedding,
    masks: torch.Tensor,
    scores: torch.Tensor,
    low_res: torch.Tensor,
    started: float,
) -> Decoded:
    """The reference paths' (m, H, W) bool masks, (m,) scores and (m, h, w) logits ->
    the same `Decoded` the fast path returns, best first (`started`: perf_counter at
    the start of the decode)."""
    order = torch.argsort(scores, descending=True, stable=True)
    candidates = to_candidates(
        masks[order].cpu().numpy(),
        scores[order].float().tolist(),
        low_res[order].float().cpu().numpy(),
        embedding.original_size,
    )
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    return Decoded(embedding.original_size, embedding.original_size, elapsed, candidates)
