"""SAM 2 / SAM 2.1 (Hiera-T/S/B+/L) on transformers' `Sam2Model`, single images.

Encoder: a Hiera backbone and FPN neck over the image resized to 1024x1024 (no
padding, aspect ratio not kept). Its outputs, all kept in the embedding:
image_embeddings (1, 256, 64, 64) (with the "no memory" embedding added, as for
a still image), high_res_features_1 (1, 64, 128, 128) and high_res_features_0
(1, 32, 256, 256), already projected by the mask decoder's conv_s1 / conv_s0.
Decoder: as SAM's, plus an object-score token, the two high-resolution features
added during upsampling, and, for single-mask output, the fallback to the best
multimask output when the single mask is unstable.
Post-processing: (m, 256, 256) logits resized straight to the original size.
"""

from __future__ import annotations

import time
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from .candidates import Decoded
from .embedding import Embedding
from .model import SegmentationModel, reference_candidates, reference_inputs
from .preprocess import preprocess_sam2
from .prompts import Prompt
from .specs import Family

_FEATURE_NAMES = ("high_res_features_0", "high_res_features_1", "image_embeddings")


class Sam2SegmentationModel(SegmentationModel):
    """SAM 2: `Sam2Model` on a 1024x1024 resized image, three feature levels."""

    family: ClassVar[Family] = "sam2"
    pads_input: ClassVar[bool] = False

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """HxWx3 uint8 -> (3, 1024, 1024) normalised, and (1024, 1024)."""
        return preprocess_sam2(image, self.image_size)

    def _run_encoder(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 3, 1024, 1024) -> high_res_features_0 (B, 32, 256, 256),
        high_res_features_1 (B, 64, 128, 128), image_embeddings (B, 256, 64, 64)."""
        levels = self.network.get_image_embeddings(pixels)  # finest first
        return dict(zip(_FEATURE_NAMES, levels, strict=True))

    def _high_res(
        self, tensors: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        return tensors["high_res_features_0"], tensors["high_res_features_1"]

    def reference_decode(self, embedding: Embedding, prompt: Prompt) -> Decoded:
        """Decode with `Sam2Model.forward` and the reference post-processing (slow path).

        pred_masks (1, 1, m, 256, 256) -> bilinear to the original size -> > 0.
        """
        started = time.perf_counter()
        prompt.check_bounds(*embedding.original_size)
        self.check_embedding(embedding)
        levels = [embedding.tensors[name].to(self.device, self.dtype) for name in _FEATURE_NAMES]
        with torch.inference_mode():
            out = self.network(
                image_embeddings=levels,
                multimask_output=prompt.multimask,
                **reference_inputs(self, embedding, prompt),
            )
            low_res = out.pred_masks[0, 0].float()
            full = F.interpolate(
                low_res[None], embedding.original_size, mode="bilinear", align_corners=False
            )[0]
        scores = out.iou_scores[0, 0].float()
        return reference_candidates(embedding, full > 0, scores, low_res, started)
