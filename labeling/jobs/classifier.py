"""Training a project's category classifier on its approved masks (the training queue).

Each approved mask with a category becomes one feature row: the image's stored
embedding averaged under the mask, plus its shape (`inference.category_features`).
Images are split by the project's held-out split (`labeling.holdout`: 1 image in 5,
by a hash of the ids, the split the evaluator and the fine-tuner use), so the masks
of one picture never sit on both sides; the head learns from
the training images and its accuracy on the held-out ones is what the Model quality
figures show. Images whose embedding is not stored yet are left out (this job never
encodes: that is the embeddings workers' work).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import numpy as np
from django.conf import settings

from labeling import embedding_store
from labeling.holdout import is_holdout_ids
from labeling.models import Category, EmbeddingStatus, Image, Project
from labeling.services.classifier import (
    approved_masks,
    classifier_row,
    do_end_training,
    do_store_training,
    retrain_if_due,
)

logger = logging.getLogger(__name__)


def _feature_rows(project: Project) -> tuple[list[Any], list[int], list[bool], list[int]]:
    """Features, category ids, held-out flags and image ids of the approved masks."""
    from inference import load_model
    from inference.category_features import rle_features

    model = load_model(project.model_spec)
    masks = (
        approved_masks(project.pk)
        .filter(image__embedding_status=EmbeddingStatus.READY)
        .order_by("-pk")
        .values_list("image_id", "category_id", "rle")[: settings.ANYMASK_CLASSIFIER_MAX_MASKS]
    )
    by_image: dict[int, list[tuple[int, Any]]] = defaultdict(list)
    for image_id, category_id, rle in masks:
        by_image[image_id].append((category_id, rle))
    rows: list[Any] = []
    labels: list[int] = []
    flags: list[bool] = []
    image_ids: list[int] = []
    images = Image.objects.filter(pk__in=list(by_image)).only("pk", "sha256")
    for image in images.iterator():
        embedding = embedding_store.read(model, image.sha256)
        if embedding is None:
            continue
        for category_id, rle in by_image[image.pk]:
            rows.append(rle_features(embedding, rle))
            labels.append(category_id)
            flags.append(is_holdout_ids(project.pk, image.pk))
            image_ids.append(image.pk)
    return rows, labels, flags, image_ids


def _figures(
    head: Any, rows: list[Any], labels: list[int], flags: list[bool], names: dict[int, str]
) -> dict[str, Any]:
    from inference.category_head import accuracy

    train = [i for i, flag in enumerate(flags) if not flag]
    test = [i for i, flag in enumerate(flags) if flag]
    test_labels = [labels[i] for i in test]
    predicted = head.predict(np.stack([rows[i] for i in test])) if test else []
    per: dict[int, dict[str, Any]] = {}
    for category_id in sorted(set(labels)):
        per[category_id] = {
            "id": category_id,
            "name": names.get(category_id, f"#{category_id}"),
            "train": 0,
            "heldout": 0,
            "correct": 0,
        }
    for i in train:
        per[labels[i]]["train"] += 1
    for truth, guess in zip(test_labels, predicted, strict=True):
        per[truth]["heldout"] += 1
        per[truth]["correct"] += int(truth == guess)
    held = np.stack([rows[i] for i in test]) if test else np.zeros((0, head.feature_count))
    return {
        "heldout_accuracy": accuracy(head, held, test_labels),
        "train_masks": len(train),
        "heldout_masks": len(test),
        "categories": list(per.values()),
    }


def train_classifier(project_id: int) -> str:
    """Retrain the project's classifier; returns what happened ("trained", why not)."""
    from inference.category_features import SHAPE_NAMES
    from inference.category_head import HeadError, fit_head

    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return "no project"
    row = classifier_row(project_id)
    if not row.pending:
        return "not pending"  # a duplicate delivery: the first one did the work
    seen = approved_masks(project_id).count()
    try:
        rows, labels, flags, image_ids = _feature_rows(project)
        train = [i for i, flag in enumerate(flags) if not flag]
        try:
            head = fit_head(
                np.stack([rows[i] for i in train]),
                [labels[i] for i in train],
                [image_ids[i] for i in train],
                channels=int(rows[0].shape[0]) - len(SHAPE_NAMES),
            )
        except (HeadError, ValueError):
            do_end_training(
                project_id,
                approved_seen=seen,
                error="Needs approved masks of at least 2 categories on the training images.",
            )
            return "too few categories"
        names = dict(Category.objects.filter(project_id=project_id).values_list("pk", "name"))
        figures = _figures(head, rows, labels, flags, names)
        do_store_training(project_id, head=head, approved_seen=seen, figures=figures)
    except Exception as error:
        logger.exception("training the category classifier of project %s failed", project_id)
        do_end_training(project_id, approved_seen=seen, error=f"Failed: {type(error).__name__}.")
        return "failed"
    retrain_if_due(project_id)  # approvals that came in while this one trained
    return "trained"
