"""SAM (Segment Anything, ViT-B/L/H) on transformers' `SamModel`.

Encoder: a ViT over a 1024x1024 input: the image resized so its longest side is
1024 and zero-padded bottom/right; output image_embeddings (1, 256, 64, 64).
Decoder: prompt encoder + two-way transformer mask decoder (run by
`decoder.FastMaskDecoder`), predicting (m, 256, 256) logits over the padded input;
they are upsampled to 1024x1024, the padding cropped, and resized to the image.

`reference_decode` is the straightforward path (transformers' full forward plus the
arithmetic of its `post_process_masks`); tests check the fast path against it and
`bench/decode.py` times both.
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
from .preprocess import preprocess_sam
from .prompts import Prompt
from .specs import Family


class SamSegmentationModel(SegmentationModel):
    """SAM: `SamModel` with longest-side resize and padding to a square input."""

    family: ClassVar[Family] = "sam"
    pads_input: ClassVar[bool] = True

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """HxWx3 uint8 -> (3, 1024, 1024) normalised and padded, and the (h, w) inside."""
        return preprocess_sam(image, self.image_size)

    def _run_encoder(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 3, 1024, 1024) -> {"image_embeddings": (B, 256, 64, 64)}."""
        return {"image_embeddings": self.network.get_image_embeddings(pixels)}

    def reference_decode(self, embedding: Embedding, prompt: Prompt) -> Decoded:
        """Decode with `SamModel.forward` and the reference post-processing (slow path).

        pred_masks (1, 1, m, 256, 256) -> bilinear to (1024, 1024) -> crop to the
        input size -> bilinear to the original size -> > 0.
        """
        started = time.perf_counter()
        prompt.check_bounds(*embedding.original_size)
        self.check_embedding(embedding)
        image_embeddings = embedding.tensors["image_embeddings"].to(self.device, self.dtype)
        with torch.inference_mode():
            out = self.network(
                image_embeddings=image_embeddings,
                multimask_output=prompt.multimask,
                **reference_inputs(self, embedding, prompt),
            )
            low_res = out.pred_masks[0, 0].float()
            size = self.image_size
            full = F.interpolate(low_res[None], (size, size), mode="bilinear", align_corners=False)
            in_h, in_w = embedding.input_size
            full = F.interpolate(
                full[..., :in_h, :in_w],
                embedding.original_size,
                mode="bilinear",
                align_corners=False,
            )[0]
        scores = out.iou_scores[0, 0].float()
        return reference_candidates(embedding, full > 0, scores, low_res, started)
