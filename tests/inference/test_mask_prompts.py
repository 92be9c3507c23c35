"""A finished mask (a SAM 3 instance) as SAM's mask prompt, for SAM and SAM 2.

The prompt must sit in the model's low-res frame exactly where the model's own
candidates sit: upsampled by the candidates' post-processing it gives the mask
back, and decoded with it the fast path still equals transformers' forward (the
logits reach the network the way its own predictor feeds them). The weights are
random, so no test can ask that the refined mask looks more like the instance.
"""

from __future__ import annotations

import numpy as np
import pytest

from inference import Prompt, PromptError
from inference.embedding import Embedding
from inference.mask_prompts import LOGIT_SCALE, check_mask_prompt, mask_prompt_logits
from inference.masks import rle_decode, rle_encode
from inference.model import SegmentationModel

from .test_engine import _assert_candidates, _assert_same

H, W = 600, 900


def disk() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return (yy - 300) ** 2 + (xx - 450) ** 2 < 150**2


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_the_prompt_upsampled_like_a_candidate_gives_the_instance_back(
    model: SegmentationModel, embedding: Embedding
) -> None:
    instance = disk()
    logits = model.mask_prompt(embedding, rle_encode(instance))
    assert logits.shape == (1, 256, 256) and logits.dtype == np.float32
    assert logits.max() == LOGIT_SCALE and logits.min() == -LOGIT_SCALE
    back = rle_decode(model.full_mask(embedding, logits).rle)
    assert iou(back, instance) > 0.99
    # A bar in the other corner lands in other cells: nothing of the disk is left.
    bar = np.zeros((H, W), bool)
    bar[80:180, 100:320] = True
    other = rle_decode(model.full_mask(embedding, model.mask_prompt(embedding, bar)).rle)
    assert iou(other, bar) > 0.97 and not (other & instance).any()


def test_sam_padding_cells_stay_background(
    sam_model: SegmentationModel, sam_embedding: Embedding
) -> None:
    # 600x900 is resized to 683x1024 and padded: rows past 683/4 cover no image pixel.
    full = np.ones((H, W), bool)
    logits = sam_model.mask_prompt(sam_embedding, full)[0]
    assert (logits[:170] == LOGIT_SCALE).all()
    assert (logits[171:] == -LOGIT_SCALE).all()
    assert -LOGIT_SCALE < logits[170, 0] < LOGIT_SCALE  # the cell the image edge crosses


def test_refining_an_instance_with_a_click_matches_the_reference_and_changes_the_mask(
    model: SegmentationModel, embedding: Embedding
) -> None:
    instance = disk()
    box = [300, 150, 600, 450]
    logits = model.mask_prompt(embedding, rle_encode(instance))
    refine = Prompt(points=[[450, 300]], labels=[1], box=box, mask_logits=logits)
    refined = model.decode(embedding, refine)
    _assert_candidates(refined, 1)  # a mask prompt asks for one answer
    _assert_same(refined, model.reference_decode(embedding, refine))  # type: ignore[attr-defined]
    plain = model.decode(embedding, Prompt(points=[[450, 300]], labels=[1], box=box))
    assert not np.array_equal(plain[0].low_res_logits, refined[0].low_res_logits)
    # Another instance as the prompt gives another answer: the mask is what is read.
    other = np.roll(instance, 200, axis=1)
    moved = Prompt(
        points=[[450, 300]], labels=[1], box=box, mask_logits=model.mask_prompt(embedding, other)
    )
    assert not np.array_equal(
        model.decode(embedding, moved)[0].low_res_logits, refined[0].low_res_logits
    )


def test_bad_mask_prompts_are_refused_with_the_reason(
    model: SegmentationModel, embedding: Embedding
) -> None:
    with pytest.raises(PromptError, match="is 900x599 but the image is 900x600"):
        model.mask_prompt(embedding, np.zeros((599, 900), bool))
    with pytest.raises(PromptError, match="not valid COCO RLE"):
        mask_prompt_logits({"size": [H, W], "counts": [5]}, embedding.input_size)
    with pytest.raises(PromptError, match="boolean"):
        mask_prompt_logits(np.zeros((H, W), np.float32), embedding.input_size)
    good = rle_encode(disk())
    assert check_mask_prompt(good, H, W) == int(disk().sum())
    with pytest.raises(PromptError, match="is 900x600 but the image is 800x600"):
        check_mask_prompt(good, H, 800)
    with pytest.raises(PromptError, match="empty"):
        check_mask_prompt(rle_encode(np.zeros((H, W), bool)), H, W)
    with pytest.raises(PromptError, match="not valid COCO RLE"):
        check_mask_prompt({"size": [H, W], "counts": "??"}, H, W)


def test_a_large_mask_is_read_in_tiles_with_the_same_result(
    model: SegmentationModel, embedding: Embedding, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = model.mask_prompt(embedding, disk())
    monkeypatch.setattr("inference.mask_prompts.BAND_PIXELS", 1000)  # tiles of 40 x 25
    monkeypatch.setattr("inference.mask_prompts.TILE_SIDE", 40)
    np.testing.assert_allclose(model.mask_prompt(embedding, disk()), whole, atol=1e-4)
