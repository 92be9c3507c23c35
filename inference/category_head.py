"""A per-project category classifier: multinomial logistic regression on mask features.

numpy and scipy only (no scikit-learn, which is not a dependency, and no torch: a
suggestion is one small matrix product on the click path, and training on a few
thousand masks takes L-BFGS well under a second). Features are standardised with the
training set's mean and spread, and the weights carry an L2 penalty, so the 256
embedding channels do not overfit a small project.

A head travels as JSON (`to_json` / `from_json`): category ids, the standardisation
and the weights, a few hundred kB for a handful of categories. `from_json` trusts
nothing in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

FORMAT = "anymask-category-head"
FORMAT_VERSION = 1
MAX_CATEGORIES = 1000
MAX_FEATURES = 4096


class HeadError(ValueError):
    """A stored head that is not one, or a training set it cannot learn from."""


@dataclass(frozen=True, eq=False)
class CategoryHead:
    """categories: the K category ids, in output order. mean, scale: (F,) feature
    standardisation. weights: (F, K); bias: (K,)."""

    categories: list[int]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: np.ndarray

    @property
    def feature_count(self) -> int:
        return int(self.mean.shape[0])

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(N, K) class probabilities of (N, F) features."""
        x = (np.atleast_2d(features).astype(np.float32) - self.mean) / self.scale
        # einsum keeps a click's few rows off BLAS's thread pool (see category_features).
        return _softmax(np.einsum("nf,fk->nk", x, self.weights) + self.bias)

    def suggest(self, features: np.ndarray) -> list[tuple[int, float]]:
        """For each of the (N, F) features: (best category id, its probability)."""
        probs = self.probabilities(features)
        best = probs.argmax(axis=1)
        return [(self.categories[int(k)], float(probs[i, k])) for i, k in enumerate(best)]

    def predict(self, features: np.ndarray) -> list[int]:
        return [category for category, _ in self.suggest(features)]

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "categories": self.categories,
                "mean": self.mean.tolist(),
                "scale": self.scale.tolist(),
                "weights": self.weights.tolist(),
                "bias": self.bias.tolist(),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> CategoryHead:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as error:
            raise HeadError(f"not a category head: {error}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise HeadError("not a category head (no format marker)")
        if data.get("format_version") != FORMAT_VERSION:
            raise HeadError(f"category head version {data.get('format_version')!r} is unknown")
        categories = data.get("categories")
        if (
            not isinstance(categories, list)
            or not 2 <= len(categories) <= MAX_CATEGORIES
            or not all(isinstance(c, int) and not isinstance(c, bool) for c in categories)
        ):
            raise HeadError("a category head needs 2 or more integer category ids")
        try:
            mean, scale, weights, bias = (
                np.asarray(data[name], np.float32) for name in ("mean", "scale", "weights", "bias")
            )
        except (KeyError, TypeError, ValueError):
            raise HeadError("a category head's arrays are missing or not numbers") from None
        features, classes = mean.shape[0] if mean.ndim == 1 else -1, len(categories)
        if (
            not 0 < features <= MAX_FEATURES
            or scale.shape != (features,)
            or weights.shape != (features, classes)
            or bias.shape != (classes,)
        ):
            raise HeadError("a category head's arrays do not fit together")
        if (
            not all(np.isfinite(a).all() for a in (mean, scale, weights, bias))
            or (scale <= 0).any()
        ):
            raise HeadError("a category head holds values that are not finite")
        return cls(categories, mean, scale, weights, bias)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def train_head(
    features: np.ndarray,
    labels: list[int],
    *,
    l2: float = 1e-2,
    max_iter: int = 300,
    embedding_weight: float = 1.0,
    channels: int | None = None,
) -> CategoryHead:
    """Fit a head to (N, F) features and their N category ids (2 or more distinct).

    Minimises the mean cross-entropy plus `l2`/2 times the squared weights (bias
    unpenalised) with L-BFGS; deterministic for the same input."""
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or x.shape[0] != len(labels) or not x.shape[0]:
        raise HeadError("need one feature row per label, and at least one")
    categories = sorted(set(labels))
    if len(categories) < 2:
        raise HeadError("need masks of at least 2 categories to tell them apart")
    if len(categories) > MAX_CATEGORIES:
        raise HeadError(f"at most {MAX_CATEGORIES} categories")
    index = {c: k for k, c in enumerate(categories)}
    y = np.array([index[c] for c in labels])
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0  # a constant feature carries nothing: leave it at 0
    if channels is not None:
        # The first `channels` features (the embedding) count `embedding_weight` as
        # much as the rest under the same penalty; folded into the standardisation,
        # so a stored head needs nothing new.
        scale[:channels] /= embedding_weight
    x = (x - mean) / scale
    n, f = x.shape
    k = len(categories)
    onehot = np.zeros((n, k))
    onehot[np.arange(n), y] = 1.0

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = params[: f * k].reshape(f, k), params[f * k :]
        logits = x @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(logits).sum(axis=1, keepdims=True))
        log_probs = logits - log_norm
        value = -(onehot * log_probs).sum() / n + 0.5 * l2 * float((w * w).sum())
        diff = (np.exp(log_probs) - onehot) / n
        grad_w = x.T @ diff + l2 * w
        return value, np.concatenate([grad_w.ravel(), diff.sum(axis=0)])

    result = minimize(
        loss, np.zeros(f * k + k), jac=True, method="L-BFGS-B", options={"maxiter": max_iter}
    )
    params = result.x
    return CategoryHead(
        categories=categories,
        mean=mean.astype(np.float32),
        scale=scale.astype(np.float32),
        weights=params[: f * k].reshape(f, k).astype(np.float32),
        bias=params[f * k :].astype(np.float32),
    )


def accuracy(head: CategoryHead, features: np.ndarray, labels: list[int]) -> float | None:
    """Share of `labels` the head predicts (None for no labels)."""
    if not labels:
        return None
    predicted = head.predict(np.asarray(features))
    return sum(p == t for p, t in zip(predicted, labels, strict=True)) / len(labels)


WEIGHTS = (1.0, 0.3, 0.1, 0.03)
PENALTIES = (1e-2, 1e-1)
CV_MAX_ROWS = 3000


def fit_head(
    features: np.ndarray, labels: list[int], groups: list[int], *, channels: int
) -> CategoryHead:
    """`train_head` with its settings chosen by cross-validation on the training rows,
    folds by `groups` (images: a picture's masks never score a head that saw them).

    Two settings: the L2 penalty, and how much the embedding block (the first
    `channels` features) counts against the shape statistics. With a good encoder
    the embedding carries the category; with a poor one (random test weights, or a
    domain it never saw) its 256 noisy dimensions would drown the 6 shape figures,
    and the folds say so. Few images (under 3) or one category per fold: defaults."""
    x = np.asarray(features, np.float32)
    ids = np.asarray(groups)
    distinct = np.unique(ids)
    if len(distinct) < 3 or len(set(labels)) < 2:
        return train_head(x, labels)
    folds = min(3, len(distinct))
    fold_of = {g: i % folds for i, g in enumerate(distinct)}
    rows = np.arange(len(labels))
    if len(rows) > CV_MAX_ROWS:  # the choice needs a sample, not every mask
        rows = np.random.default_rng(0).choice(rows, CV_MAX_ROWS, replace=False)
    best: tuple[float, float, float] | None = None
    for weight in WEIGHTS:
        for l2 in PENALTIES:
            scores = []
            for fold in range(folds):
                test = np.array([fold_of[ids[r]] == fold for r in rows])
                train_rows, test_rows = rows[~test], rows[test]
                train_labels = [labels[r] for r in train_rows]
                if len(set(train_labels)) < 2 or not len(test_rows):
                    continue
                head = train_head(
                    x[train_rows], train_labels, l2=l2, embedding_weight=weight,
                    channels=channels, max_iter=100,
                )  # fmt: skip
                score = accuracy(head, x[test_rows], [labels[r] for r in test_rows])
                scores.append(score or 0.0)
            mean = float(np.mean(scores)) if scores else 0.0
            if best is None or mean > best[0] + 1e-9:
                best = (mean, weight, l2)
    assert best is not None
    return train_head(x, labels, l2=best[2], embedding_weight=best[1], channels=channels)
