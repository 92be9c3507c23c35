"""The category classifier's engine: features under a mask, and the logistic head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.category_features import (
    SHAPE_NAMES,
    candidate_features,
    cover_from_mask,
    mask_features,
)
from inference.category_head import CategoryHead, HeadError, accuracy, train_head
from inference.embedding import Embedding


def known_embedding(height: int, width: int) -> Embedding:
    """A SAM-shaped embedding whose channel c at grid cell (y, x) is a known value:
    channel 0 = y, channel 1 = x, channel 2 = 1 in the top-left 8x8 cells, else 0."""
    scale = 1024 / max(height, width)
    input_size = (int(height * scale + 0.5), int(width * scale + 0.5))
    grid = torch.zeros(1, 256, 64, 64, dtype=torch.float16)
    ys, xs = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    grid[0, 0], grid[0, 1] = ys.half(), xs.half()
    grid[0, 2, :8, :8] = 1
    return Embedding("sam-vit-base", "sam", (height, width), input_size, {"image_embeddings": grid})


def test_features_average_the_embedding_under_the_mask_through_the_resize() -> None:
    # 256x512: the encoder saw it at 512x1024 in a padded 1024 square, so the image
    # fills grid rows 0..31 of 64; its top-left quarter is rows 0..15, columns 0..31.
    embedding = known_embedding(256, 512)
    mask = np.zeros((256, 512), bool)
    mask[:128, :256] = True
    vector = mask_features(embedding, mask)
    assert vector.shape == (256 + len(SHAPE_NAMES),)
    assert vector[0] == pytest.approx(7.5)  # mean of rows 0..15
    assert vector[1] == pytest.approx(15.5)
    assert vector[2] == pytest.approx(64 / 512)  # the 8x8 marked cells of 16x32
    shape = dict(zip(SHAPE_NAMES, vector[256:], strict=True))
    assert np.exp(shape["log_area"]) == pytest.approx(0.25, rel=1e-3)  # of the image, not padding
    assert shape["log_aspect"] == pytest.approx(np.log(2))
    assert shape["fill"] == pytest.approx(1.0)
    assert shape["centre_y"] == pytest.approx(0.25) and shape["centre_x"] == pytest.approx(0.25)


def test_a_candidates_low_res_logits_give_the_features_of_the_same_mask() -> None:
    embedding = known_embedding(768, 1024)
    mask = np.zeros((768, 1024), bool)
    mask[200:500, 300:700] = True
    logits = np.full((1, 256, 256), -5.0, np.float32)
    logits[0, 50:125, 75:175] = 5.0  # the same box at 4 input pixels a cell
    logits[0, 200:, :] = 5.0  # padding below the image: never part of a mask
    from_click = candidate_features(embedding, logits)
    from_mask = mask_features(embedding, mask)
    np.testing.assert_allclose(from_click, from_mask, rtol=1e-4, atol=1e-4)


def test_cover_of_a_small_image_fills_the_frame_it_was_stretched_to() -> None:
    embedding = known_embedding(20, 40)  # upsampled by the encoder: 512x1024
    mask = np.ones((20, 40), bool)
    cover = cover_from_mask(embedding, mask)
    assert cover[:128, :].min() == 1.0 and cover[128:, :].max() == 0.0


def separable(n: int, seed: int) -> tuple[np.ndarray, list[int]]:
    """Three categories, each lifting 5 of 262 noisy dimensions of its own."""
    rng = np.random.default_rng(seed)
    categories = [11, 22, 33]
    labels = [categories[i % 3] for i in range(n)]
    x = rng.normal(size=(n, 262)).astype(np.float32)
    for i in range(n):
        x[i, 5 * (i % 3) : 5 * (i % 3) + 5] += 2.0
    return x, labels


def test_the_head_learns_separable_categories_and_holds_them_out() -> None:
    x, y = separable(300, seed=1)
    test_x, test_y = separable(150, seed=2)
    head = train_head(x, y)
    assert head.categories == [11, 22, 33]
    assert (accuracy(head, test_x, test_y) or 0) >= 0.95
    category, confidence = head.suggest(test_x[:1])[0]
    assert category == test_y[0] and 0.5 < confidence <= 1.0


def test_a_head_survives_its_json_and_refuses_tampering() -> None:
    x, y = separable(90, seed=3)
    head = train_head(x, y)
    again = CategoryHead.from_json(head.to_json())
    np.testing.assert_allclose(again.probabilities(x), head.probabilities(x), rtol=1e-5)
    with pytest.raises(HeadError):
        CategoryHead.from_json(head.to_json().replace('"categories":[11', '"categories":["x"'))
    with pytest.raises(HeadError):
        CategoryHead.from_json(b"\x00not json")


def test_one_category_is_not_enough_to_learn() -> None:
    with pytest.raises(HeadError, match="at least 2"):
        train_head(np.zeros((4, 8)), [1, 1, 1, 1])


def test_score_categories_tells_apart_masks_over_distinct_embedding_regions() -> None:
    from inference.category_eval import score_categories

    # Two "categories" whose pixels sit where the embedding's channel 2 is 1 (the
    # top-left 8x8 cells) or 0: with noise elsewhere, the head must find channel 2.
    rng = np.random.default_rng(0)
    samples = []
    for i in range(40):
        embedding = known_embedding(256, 256)
        noise = torch.from_numpy(rng.normal(size=(1, 253, 64, 64)).astype(np.float16))
        embedding.tensors["image_embeddings"][:, 3:] = noise
        mask = np.zeros((256, 256), bool)
        top = i % 2 == 0
        y, x = (int(rng.integers(0, 20)), int(rng.integers(0, 20))) if top else (150, 150)
        mask[y : y + 12, x : x + 12] = True
        samples.append((embedding, mask, 1 if top else 2, i >= 30))
    score = score_categories(samples)
    assert (score.train, score.heldout) == (30, 10)
    assert score.accuracy == 1.0


def test_fit_head_leans_on_the_shape_when_the_embedding_is_noise() -> None:
    from inference.category_head import fit_head

    # 256 noise "embedding" channels, then 6 shape figures whose first tells the
    # categories apart: a plain head overfits the noise, the fitted one does not.
    rng = np.random.default_rng(5)

    def rows(n: int) -> tuple[np.ndarray, list[int]]:
        labels = [i % 3 for i in range(n)]
        x = rng.normal(size=(n, 262)).astype(np.float32)
        x[:, 256] = np.array(labels) * 1.5 + rng.normal(scale=0.3, size=n)
        return x, labels

    x, y = rows(60)
    test_x, test_y = rows(150)
    plain = accuracy(train_head(x, y), test_x, test_y) or 0
    fitted = accuracy(fit_head(x, y, [i // 3 for i in range(60)], channels=256), test_x, test_y)
    assert (fitted or 0) >= 0.9 > plain
