"""SAM 3 as a concept model: name a thing (or box one example) and get every instance.

`vision_features(image)` runs SAM 3's 32-layer ViT once per image; `find_instances`
then answers any number of phrases and exemplar boxes on those features with only
the prompt-side heads (DETR encoder and decoder, mask decoder: about 31M parameters).
Text features are cached per phrase, so a phrase asked again over many images costs
nothing more. The caller bounds vision features in bytes (`ByteLRU`): one image's
are about 56 MB in bf16, a SAM embedding 4 MB.

Shapes: an image (H, W, 3) uint8 → pixels (1, 3, S, S) with S = 1008 for SAM 3;
features: FPN levels (1, 256, 288, 288), (1, 256, 144, 144), (1, 256, 72, 72) (and a
36² level SAM 3 does not use for detection); instances: RLE at (H, W).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from inference.errors import ImageError, PromptError

from . import roi_align
from .postprocess import Instance, instances

# SAM 3's text encoder reads 32 tokens (its processor pads every phrase to this).
TEXT_TOKENS = 32
MAX_PHRASE_CHARS = 100
MAX_EXEMPLARS = 8
MAX_INSTANCES = 200
# What a box-only query says for its text (SAM 3's convention).
VISUAL = "visual"
TEXT_CACHE_PHRASES = 512
MEAN = STD = 0.5  # SAM 3 normalises with ImageNet's "standard" 0.5 / 0.5


@dataclass(frozen=True)
class ConceptFeatures:
    """One image's SAM 3 vision features and the size (H, W) they were taken at."""

    vision: Any  # transformers' Sam3VisionEncoderOutput
    size: tuple[int, int]
    nbytes: int


@dataclass(frozen=True)
class Exemplar:
    """A box (x1, y1, x2, y2, image pixels) that shows a good example (positive) or
    a wrong hit (negative) of the concept."""

    box: tuple[float, float, float, float]
    positive: bool


class ConceptModel:
    """A loaded SAM 3 detector (`transformers.Sam3Model`) and its tokenizer."""

    def __init__(self, spec: str, network: Any, tokenizer: Any, source: str) -> None:
        self.spec, self.network, self.tokenizer, self.source = spec, network, tokenizer, source
        self.network.eval()
        first = next(network.parameters())
        self.device, self.dtype = first.device, first.dtype
        self._text: OrderedDict[str, tuple[Any, torch.Tensor]] = OrderedDict()
        self._text_lock = threading.Lock()
        roi_align.install()  # exemplar boxes need RoIAlign; torchvision is not ours

    @property
    def image_size(self) -> int:
        return int(self.network.config.vision_config.image_size)

    def pixels(self, image: np.ndarray) -> torch.Tensor:
        """(H, W, 3) uint8 → (1, 3, S, S) normalised, resized without keeping the
        aspect ratio (as SAM 3 was trained)."""
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
            raise ImageError("an image must be an (H, W, 3) uint8 RGB array")
        if image.dtype != np.uint8 or min(image.shape[:2]) < 1:
            raise ImageError("an image must be an (H, W, 3) uint8 RGB array of usable size")
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
        size = self.image_size
        resized = F.interpolate(
            tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )
        return ((resized / 255.0 - MEAN) / STD).to(self.device, self.dtype)

    @torch.inference_mode()
    def vision_features(self, image: np.ndarray) -> ConceptFeatures:
        vision = self.network.get_vision_features(pixel_values=self.pixels(image))
        levels = list(vision.fpn_hidden_states) + list(vision.fpn_position_encoding)
        nbytes = sum(t.numel() * t.element_size() for t in levels if t is not None)
        return ConceptFeatures(vision, (int(image.shape[0]), int(image.shape[1])), nbytes)

    def text_features(self, phrase: str) -> tuple[Any, torch.Tensor]:
        """(text encoder output with `pooler_output` (1, 32, 256), attention mask
        (1, 32)) for a phrase, computed once per phrase and kept (LRU)."""
        key = check_phrase(phrase)
        with self._text_lock:
            cached = self._text.get(key)
            if cached is not None:
                self._text.move_to_end(key)
                return cached
        tokens = self.tokenizer(
            [key],
            padding="max_length",
            max_length=TEXT_TOKENS,
            truncation=True,
            return_tensors="pt",
        )
        ids = tokens["input_ids"].to(self.device)
        mask = tokens["attention_mask"].to(self.device)
        with torch.inference_mode():
            encoded = self.network.get_text_features(input_ids=ids, attention_mask=mask)
        with self._text_lock:
            self._text[key] = (encoded, mask)
            while len(self._text) > TEXT_CACHE_PHRASES:
                self._text.popitem(last=False)
        return encoded, mask

    def cached_phrases(self) -> list[str]:
        with self._text_lock:
            return list(self._text)

    @torch.inference_mode()
    def raw_outputs(
        self, features: ConceptFeatures, text: str | None, exemplars: Sequence[Exemplar] = ()
    ) -> Any:
        """SAM 3's detection outputs for one query on cached features."""
        boxes = check_exemplars(exemplars, features.size)
        if text is None and not boxes:
            raise PromptError("a concept query needs a phrase or at least one exemplar box")
        encoded, mask = self.text_features(text if text is not None else VISUAL)
        extra: dict[str, torch.Tensor] = {}
        if boxes:
            height, width = features.size
            xyxy = torch.tensor([e.box for e in boxes], dtype=torch.float32)
            xyxy = xyxy / torch.tensor([width, height, width, height], dtype=torch.float32)
            cxcywh = torch.stack(
                [
                    (xyxy[:, 0] + xyxy[:, 2]) / 2,
                    (xyxy[:, 1] + xyxy[:, 3]) / 2,
                    xyxy[:, 2] - xyxy[:, 0],
                    xyxy[:, 3] - xyxy[:, 1],
                ],
                dim=-1,
            )
            extra["input_boxes"] = cxcywh[None].to(self.device, self.dtype)
            labels = [1 if e.positive else 0 for e in boxes]
            extra["input_boxes_labels"] = torch.tensor([labels], device=self.device)
        return self.network(
            vision_embeds=features.vision, text_embeds=encoded, attention_mask=mask, **extra
        )

    def find_instances(
        self,
        features: ConceptFeatures,
        text: str | None = None,
        exemplars: Sequence[Exemplar] = (),
        *,
        threshold: float = 0.5,
        mask_threshold: float = 0.5,
        min_area: int = 0,
        nms_iou: float = 0.5,
        max_instances: int = 100,
    ) -> list[Instance]:
        """Every instance of the concept on the image, best score first, de-duplicated
        by mask IoU above `nms_iou`, none under `min_area` pixels, at most
        `max_instances` (bounded by MAX_INSTANCES)."""
        for name, value in (("threshold", threshold), ("mask_threshold", mask_threshold)):
            if not 0.0 <= float(value) <= 1.0:
                raise PromptError(f"{name} must be between 0 and 1")
        if not 1 <= int(max_instances) <= MAX_INSTANCES:
            raise PromptError(f"max_instances must be between 1 and {MAX_INSTANCES}")
        outputs = self.raw_outputs(features, text, exemplars)
        return instances(
            outputs,
            features.size,
            threshold=threshold,
            mask_threshold=mask_threshold,
            min_area=int(min_area),
            nms_iou=nms_iou,
            max_instances=int(max_instances),
        )


def check_phrase(phrase: Any) -> str:
    if not isinstance(phrase, str) or not phrase.strip():
        raise PromptError("a phrase must be non-empty text")
    cleaned = " ".join(phrase.split())
    if len(cleaned) > MAX_PHRASE_CHARS:
        raise PromptError(f"a phrase may be at most {MAX_PHRASE_CHARS} characters")
    return cleaned.lower()


def check_exemplars(exemplars: Sequence[Exemplar], size: tuple[int, int]) -> list[Exemplar]:
    if len(exemplars) > MAX_EXEMPLARS:
        raise PromptError(f"at most {MAX_EXEMPLARS} exemplar boxes per query")
    height, width = size
    for exemplar in exemplars:
        x1, y1, x2, y2 = exemplar.box
        if not all(np.isfinite(v) for v in exemplar.box):
            raise PromptError("an exemplar box must have finite coordinates")
        if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
            raise PromptError("an exemplar box must lie inside the image, with x1 < x2, y1 < y2")
    return list(exemplars)
