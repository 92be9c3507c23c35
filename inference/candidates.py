"""What a decode hands its caller: candidate masks as COCO RLE, ready to send or store.

`SegmentationModel.decode` owns the whole path from a prompt to these objects (as
segment-anything's `SamPredictor.predict` does), so callers never touch logits,
upsampling or RLE themselves. Pure numpy: the web app reads these types without
loading torch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .masks import rle_area_bbox, rle_encode


@dataclass(frozen=True)
class EncodedMask:
    """A full-size mask made by the engine: compressed COCO RLE with its area and bbox.

    Its RLE comes from pycocotools' encoder, so it is already canonical (the fewest
    runs): a service that stores it needs no second parse.
    """

    rle: dict[str, Any]
    area: int
    bbox: list[float]

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the mask."""
        height, width = self.rle["size"]
        return int(height), int(width)

    @classmethod
    def of(cls, mask: np.ndarray) -> EncodedMask:
        """Encode an (H, W) bool mask (column-major is free, anything else one copy)."""
        rle = rle_encode(mask)
        area, bbox = rle_area_bbox(rle)
        return cls(rle, area, bbox)


@dataclass(frozen=True, eq=False)
class Candidate:
    """One predicted mask.

    rle: compressed COCO RLE at the decode's `shown` size (the image's own size unless
    a preview was asked for). score: the model's predicted IoU. bbox ([x, y, w, h])
    and area: in full-image pixels even for a preview (then estimated from it).
    low_res_logits: (1, 256, 256) float32; pass as `Prompt.mask_logits` to refine,
    or to `SegmentationModel.full_mask` for the full-size mask.
    """

    rle: dict[str, Any]
    score: float
    bbox: list[float]
    area: int
    low_res_logits: np.ndarray

    @property
    def shown_size(self) -> tuple[int, int]:
        height, width = self.rle["size"]
        return int(height), int(width)


@dataclass(frozen=True)
class Decoded:
    """The answer to one prompt: candidates best predicted IoU first.

    size: (h, w) of the image; shown: (h, w) of every candidate's RLE; decode_ms:
    the wall time of the whole decode, prompt to RLE.
    """

    size: tuple[int, int]
    shown: tuple[int, int]
    decode_ms: float
    candidates: list[Candidate]

    @property
    def scale(self) -> float:
        """shown / full size (1.0 unless a preview was asked for)."""
        return self.shown[1] / self.size[1]

    def __len__(self) -> int:
        return len(self.candidates)

    def __getitem__(self, index: int) -> Candidate:
        return self.candidates[index]

    def __iter__(self) -> Iterator[Candidate]:
        return iter(self.candidates)


def preview_size(original: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """(h, w) at which candidates are made for an image of `original` (h, w) size:
    the image's own size, or scaled down so its longest side is `max_side`."""
    height, width = original
    if max_side is None or max(height, width) <= max_side:
        return original
    scale = max_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def to_candidates(
    masks: np.ndarray,
    scores: list[float],
    low_res: np.ndarray,
    original: tuple[int, int],
) -> list[Candidate]:
    """(m, h, w) bool masks at the shown size, m scores, (m, 256, 256) logits ->
    candidates in the given order, bbox and area scaled to full-image pixels."""
    shown = (int(masks.shape[1]), int(masks.shape[2]))
    scale_y, scale_x = shown[0] / original[0], shown[1] / original[1]
    found = []
    for i, score in enumerate(scores):
        encoded = EncodedMask.of(masks[i])
        x, y, w, h = encoded.bbox
        area = encoded.area
        if shown != original:  # bbox and area are always in full-image pixels
            x, y, w, h = x / scale_x, y / scale_y, w / scale_x, h / scale_y
            area = round(area / (scale_x * scale_y))
        found.append(
            Candidate(
                rle=encoded.rle,
                score=float(score),
                bbox=[x, y, w, h],
                area=area,
                low_res_logits=low_res[i : i + 1],
            )
        )
    return found
