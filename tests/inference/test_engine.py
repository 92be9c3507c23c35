"""Encode and decode end to end, for SAM and SAM 2, through the real loading path.

The fast decoder is checked against `reference_decode` (transformers' full forward
plus the reference post-processing) on every kind of prompt.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from inference import Decoded, ImageError, Prompt, PromptError
from inference.embedding import Embedding
from inference.masks import mask_bbox, rle_decode
from inference.model import SegmentationModel

H, W = 600, 900


def _assert_candidates(decoded: Decoded, count: int) -> None:
    assert len(decoded) == count
    assert decoded.size == decoded.shown == (H, W) and decoded.scale == 1.0
    scores = [c.score for c in decoded]
    assert scores == sorted(scores, reverse=True)
    for c in decoded:
        mask = rle_decode(c.rle)
        assert mask.shape == (H, W) and isinstance(c.rle["counts"], str)
        assert c.area == int(mask.sum()) and c.bbox == mask_bbox(mask)
        assert c.low_res_logits.shape == (1, 256, 256)
        assert c.low_res_logits.dtype == np.float32
        assert isinstance(c.score, float)


def _assert_same(fast: Decoded, reference: Decoded) -> None:
    assert len(fast) == len(reference)
    for a, b in zip(fast, reference, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-4)
        np.testing.assert_allclose(a.low_res_logits, b.low_res_logits, atol=1e-4)
        # Logits agree to float rounding; a pixel sitting on 0 may flip.
        assert (rle_decode(a.rle) != rle_decode(b.rle)).mean() < 1e-4


def test_encode_gives_the_family_shapes(model: SegmentationModel, embedding: Embedding) -> None:
    expected = {
        "sam": {"image_embeddings": (1, 256, 64, 64)},
        "sam2": {
            "image_embeddings": (1, 256, 64, 64),
            "high_res_features_0": (1, 32, 256, 256),
            "high_res_features_1": (1, 64, 128, 128),
        },
    }[model.family]
    assert {k: tuple(v.shape) for k, v in embedding.tensors.items()} == expected
    assert embedding.spec == model.spec and embedding.family == model.family
    assert embedding.original_size == (H, W)
    assert embedding.input_size == {"sam": (683, 1024), "sam2": (1024, 1024)}[model.family]


def test_a_single_click_gives_three_sorted_candidates(
    model: SegmentationModel, embedding: Embedding
) -> None:
    candidates = model.decode(embedding, Prompt.click(450, 300))
    _assert_candidates(candidates, 3)
    # Different masks, not one mask three times.
    assert not np.array_equal(candidates[0].low_res_logits, candidates[1].low_res_logits)


@pytest.mark.parametrize(
    "prompt",
    [
        Prompt.click(450, 300),
        Prompt(points=[[450, 300], [120, 100]], labels=[1, 0]),
        Prompt(box=[300, 150, 600, 450]),
        Prompt(points=[[450, 300], [350, 300]], labels=[1, 0], box=[300, 150, 600, 450]),
        Prompt(points=[[450, 300]], labels=[1], multimask=False),
        Prompt(points=[[0, 0], [900, 600]], labels=[1, 1], multimask=True),
    ],
    ids=["click", "two-points", "box", "box+points", "single-mask", "corners-multimask"],
)
def test_fast_decode_matches_the_reference_path(
    model: SegmentationModel, embedding: Embedding, prompt: Prompt
) -> None:
    fast = model.decode(embedding, prompt)
    _assert_candidates(fast, 3 if prompt.multimask else 1)
    _assert_same(fast, model.reference_decode(embedding, prompt))  # type: ignore[attr-defined]


def test_many_points_use_the_textbook_attention_and_still_match(
    model: SegmentationModel, embedding: Embedding
) -> None:
    # 40 points make 45+ tokens, past the point where re-associating attention pays.
    rng = np.random.default_rng(3)
    points = rng.uniform([0, 0], [W, H], size=(40, 2))
    prompt = Prompt(points=points, labels=rng.integers(0, 2, 40))
    _assert_same(model.decode(embedding, prompt), model.reference_decode(embedding, prompt))  # type: ignore[attr-defined]


def test_refining_with_previous_logits(model: SegmentationModel, embedding: Embedding) -> None:
    first = model.decode(embedding, Prompt.click(450, 300))[0]
    refine = Prompt(
        points=[[450, 300], [500, 420]], labels=[1, 1], mask_logits=first.low_res_logits
    )
    refined = model.decode(embedding, refine)
    _assert_candidates(refined, 1)
    _assert_same(refined, model.reference_decode(embedding, refine))  # type: ignore[attr-defined]
    # The mask prompt changes the answer.
    plain = model.decode(embedding, Prompt(points=refine.points, labels=refine.labels))
    assert not np.array_equal(plain[0].low_res_logits, refined[0].low_res_logits)


def test_decoding_is_deterministic_and_thread_safe(
    model: SegmentationModel, embedding: Embedding
) -> None:
    prompts = [Prompt.click(50 + 80 * i, 40 + 50 * i) for i in range(8)]
    expected = [model.decode(embedding, p)[0] for p in prompts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda p: model.decode(embedding, p)[0], prompts))
    for a, b in zip(expected, got, strict=True):
        assert a.score == b.score
        assert a.rle == b.rle


def test_batched_points_match_single_decodes(
    model: SegmentationModel, embedding: Embedding
) -> None:
    points = np.array([[100.0, 100.0], [450.0, 300.0], [800.0, 550.0]], np.float32)
    logits, scores = model.decode_points_batch(embedding, points)
    assert logits.shape == (3, 3, 256, 256) and scores.shape == (3, 3)
    for i, (x, y) in enumerate(points):
        single, single_scores = model.decode_logits(embedding, Prompt.click(float(x), float(y)))
        torch.testing.assert_close(logits[i], single, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(scores[i], single_scores, atol=1e-5, rtol=1e-5)
    upscaled = model.upscale_logits(embedding, logits[0])
    assert upscaled.shape == (3, H, W) and upscaled.dtype == torch.float32


def test_encode_batch_equals_one_by_one(model: SegmentationModel, image: np.ndarray) -> None:
    small = image[::4, ::4].copy()
    batch = model.encode_batch([small, small[:, ::-1].copy()], batch_size=2)
    single = model.encode(small[:, ::-1].copy())
    assert [e.original_size for e in batch] == [(150, 225), (150, 225)]
    for name, tensor in single.tensors.items():
        torch.testing.assert_close(batch[1].tensors[name], tensor, atol=1e-4, rtol=1e-4)


def test_points_outside_the_image_are_refused(
    model: SegmentationModel, embedding: Embedding
) -> None:
    with pytest.raises(PromptError, match="outside the 900x600 image"):
        model.decode(embedding, Prompt.click(950, 10))
    with pytest.raises(PromptError, match="expected a Prompt"):
        model.decode(embedding, {"points": [[1, 1]]})  # type: ignore[arg-type]


def test_bad_images_are_refused(model: SegmentationModel) -> None:
    with pytest.raises(ImageError, match="uint8"):
        model.encode(np.zeros((10, 10, 3), np.float64))
    with pytest.raises(ImageError, match="H x W x 3"):
        model.encode(np.zeros((10, 10), np.uint8))


def test_model_info_describes_the_load(model: SegmentationModel) -> None:
    info = model.info.as_dict()
    assert info["family"] == model.family and info["spec"] == model.spec
    assert info["device"] == "cpu" and info["dtype"] == "float32"
    assert info["parameters"] == sum(p.numel() for p in model.network.parameters())
    assert info["load_seconds"] >= 0 and info["source"] == model.spec


def test_extreme_aspect_ratios_round_trip(sam_model: SegmentationModel) -> None:
    strip = np.full((2000, 3, 3), 128, np.uint8)  # 2000 px tall, 3 px wide
    embedding = sam_model.encode(strip)
    assert embedding.input_size == (1024, 2)
    candidates = sam_model.decode(embedding, Prompt.click(1, 1000))
    assert candidates[0].rle["size"] == [2000, 3]
    assert sam_model.full_mask(embedding, candidates[0].low_res_logits).size == (2000, 3)


def test_the_full_mask_of_a_candidate_is_the_candidate_at_full_size(
    model: SegmentationModel, embedding: Embedding
) -> None:
    decoded = model.decode(embedding, Prompt.click(450, 300))
    for candidate in decoded:
        kept = model.full_mask(embedding, candidate.low_res_logits)
        assert kept.rle == candidate.rle
        assert (kept.area, kept.bbox) == (candidate.area, candidate.bbox)


def test_a_preview_is_made_at_its_own_size_and_measured_in_image_pixels(
    model: SegmentationModel, embedding: Embedding
) -> None:
    full = model.decode(embedding, Prompt.click(450, 300))
    preview = model.decode(embedding, Prompt.click(450, 300), max_side=300)
    assert preview.size == (H, W) and preview.shown == (200, 300)
    assert preview.scale == pytest.approx(1 / 3)
    for small, large in zip(preview, full, strict=True):
        assert small.rle["size"] == [200, 300]
        np.testing.assert_array_equal(small.low_res_logits, large.low_res_logits)
        # Estimated from the preview, in full-image pixels: near the real figures
        # (random weights give ragged masks, so only roughly), inside the image.
        assert small.area == pytest.approx(large.area, rel=0.1, abs=100)
        x, y, w, h = small.bbox
        assert x >= 0 and y >= 0 and x + w <= W + 1e-6 and y + h <= H + 1e-6
        # Kept at full size, the preview's candidate is exactly the full decode's.
        assert model.full_mask(embedding, small.low_res_logits).rle == large.rle
