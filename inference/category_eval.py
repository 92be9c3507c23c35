"""Train and score a category head on labelled masks of embedded images, in one call.

For benchmarks and offline checks (bench/finetune.py's `category_accuracy`): the
same features and head the app's training job uses (`labeling/jobs/classifier.py`),
without Django. Held-out flags come from the caller, per mask (give every mask of an
image the same flag, as the app's split does).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .category_features import mask_features
from .category_head import CategoryHead, accuracy, train_head
from .embedding import Embedding


@dataclass(frozen=True)
class CategoryScore:
    accuracy: float | None  # on the held-out masks; None when none is held out
    train: int
    heldout: int
    head: CategoryHead


def score_categories(samples: Iterable[tuple[Embedding, np.ndarray, int, bool]]) -> CategoryScore:
    """`samples`: (embedding, full-size (H, W) bool mask, category id, held out?).
    Trains on the masks not held out, scores on the rest."""
    train_x: list[np.ndarray] = []
    train_y: list[int] = []
    test_x: list[np.ndarray] = []
    test_y: list[int] = []
    for embedding, mask, label, held_out in samples:
        row = mask_features(embedding, mask)
        (test_x if held_out else train_x).append(row)
        (test_y if held_out else train_y).append(label)
    head = train_head(np.stack(train_x), train_y)
    held = np.stack(test_x) if test_x else np.zeros((0, head.feature_count), np.float32)
    return CategoryScore(accuracy(head, held, test_y), len(train_y), len(test_y), head)
