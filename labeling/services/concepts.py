"""Concept prompts (SAM 3): name a thing, get every instance of it as candidates.

Two ways in. A labeling socket asks one image (`do_queue_query`: a `ConceptQuery`
row, answered by a `concepts` worker, latest query of a socket wins); an admin runs
Find all (`do_start_concepts`: a `ConceptJob` over images and categories, whose
instances arrive as proposals, status proposed and source concept, with the
category and score). Saved masks are never changed by a concept result: an
instance overlapping one at IoU above DUPLICATE_IOU is dropped as a duplicate.
Whether it runs at all: `availability` (configured, turned on for the project,
weights on disk, not failed to load).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inference.errors import ModelUnavailableError
from labeling.models import (
    Annotation,
    AnnotationSource,
    AnnotationStatus,
    Category,
    ConceptJob,
    ConceptQuery,
    ConceptQueryStatus,
    Image,
    ModelState,
    ModelStatus,
    Project,
)
from labeling.queueing import CONCEPT_QUERY, RUN_CONCEPTS, enqueue_on_commit
from labeling.services.annotations import do_create_annotation, do_delete_annotation
from labeling.services.errors import ServiceError
from labeling.services.job_cancel import do_cancel_job

MAX_IMAGES_PER_JOB = 10_000
MAX_CATEGORIES_PER_JOB = 50
DUPLICATE_IOU = 0.8
WEIGHTS = "about 3.4 GB in bf16"


# ------------------------------------------------------------------ availability
def configured_spec() -> str:
    return str(settings.ANYMASK_CONCEPT_MODEL or "").strip()


def model_availability() -> dict[str, Any]:
    """Whether the configured concept model can run here: `available`, else the
    `reason` and the `fix` (shell commands)."""
    from inference.availability import hub_cache_dir
    from inference.concepts import concept_checkpoint

    spec = configured_spec()
    if not spec:
        return unavailable(
            "Concept prompts are turned off: no concept model is configured.",
            ["export ANYMASK_CONCEPT_MODEL=sam3   # then restart the server and workers"],
        )
    try:
        canonical, path, hub_id = concept_checkpoint(spec)
    except ModelUnavailableError as error:
        return unavailable(str(error), ["export ANYMASK_CONCEPT_MODEL=sam3"])
    row = ModelStatus.objects.filter(spec=canonical).first()
    if row is not None and row.state == ModelState.FAILED:
        return unavailable(
            f"The concept model failed to load: {row.error}",
            [f"make fetch-model MODEL={spec}   # {WEIGHTS}"],
        )
    if path is None and hub_id is not None and not hub_on_disk(hub_id, hub_cache_dir()):
        return unavailable(
            f"The concept model {spec} is not downloaded yet ({WEIGHTS}).",
            [f"make fetch-model MODEL={spec}"],
        )
    return {"available": True, "spec": canonical, "reason": "", "fix": []}


def hub_on_disk(hub_id: str, cache_dir: str | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(hub_id, "config.json", cache_dir=cache_dir)
    return isinstance(config, str) and any(Path(config).parent.glob("*.safetensors"))


def unavailable(reason: str, fix: list[str]) -> dict[str, Any]:
    return {"available": False, "spec": configured_spec(), "reason": reason, "fix": fix}


def availability(project: Project) -> dict[str, Any]:
    """What the labeling and project pages show: the model's availability, and
    whether this project has the feature on."""
    if not project.concepts_enabled:
        return unavailable(
            "Concept prompts are off for this project.",
            ["An admin turns them on in the project's settings (Concept prompts)."],
        )
    return model_availability()


def availability_now(project_id: int) -> dict[str, Any]:
    """`availability` read from the database now: an open socket's project is a
    snapshot, and an admin's switch must take effect on it at once."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return unavailable("This project no longer exists.", [])
    return availability(project)


def check_available(project: Project) -> None:
    state = availability(project)
    if not state["available"]:
        raise ServiceError(state["reason"])


def do_set_enabled(project: Project, enabled: bool) -> None:
    Project.objects.filter(pk=project.pk).update(concepts_enabled=bool(enabled))


# ------------------------------------------------------------------ queries
def check_query(image: Image, message: dict[str, Any]) -> dict[str, Any]:
    """The bounded parameters of one query: `phrases` (1..MAX_PHRASES, each at most
    100 characters) and/or `exemplars` ([x1, y1, x2, y2, positive], at most 8, inside
    the image), `threshold` 0..1."""
    from inference.concepts import MAX_EXEMPLARS
    from inference.concepts.model import MAX_PHRASE_CHARS

    phrases = message.get("phrases", [])
    if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
        raise ServiceError("`phrases` must be a list of text.")
    phrases = [" ".join(p.split()) for p in phrases if p.strip()]
    limit = settings.ANYMASK_CONCEPT_MAX_PHRASES
    if len(phrases) > limit:
        raise ServiceError(f"At most {limit} phrases per query.")
    if any(len(p) > MAX_PHRASE_CHARS for p in phrases):
        raise ServiceError(f"A phrase may be at most {MAX_PHRASE_CHARS} characters.")
    exemplars = message.get("exemplars", [])
    if not isinstance(exemplars, list) or len(exemplars) > MAX_EXEMPLARS:
        raise ServiceError(f"`exemplars` is a list of at most {MAX_EXEMPLARS} boxes.")
    boxes = []
    for item in exemplars:
        if not (isinstance(item, list) and len(item) == 5 and isinstance(item[4], bool)):
            raise ServiceError("An exemplar is [x1, y1, x2, y2, positive].")
        try:
            x1, y1, x2, y2 = (float(v) for v in item[:4])
        except (TypeError, ValueError):
            raise ServiceError("An exemplar's coordinates must be numbers.") from None
        if not (0 <= x1 < x2 <= image.width and 0 <= y1 < y2 <= image.height):
            raise ServiceError("An exemplar box must lie inside the image, x1 < x2, y1 < y2.")
        boxes.append([x1, y1, x2, y2, item[4]])
    if not phrases and not boxes:
        raise ServiceError("Give a phrase or box an example.")
    try:
        threshold = float(message.get("threshold", 0.5))
    except (TypeError, ValueError):
        raise ServiceError("`threshold` must be a number.") from None
    if not 0.0 <= threshold <= 1.0:
        raise ServiceError("`threshold` is between 0 and 1.")
    return {"phrases": phrases, "exemplars": boxes, "threshold": threshold}


def do_queue_query(image: Image, channel: str, request_id: int, params: dict[str, Any]) -> int:
    """Queue a socket's query; its earlier queries are superseded (the worker skips
    them, or drops their answer). Returns the row's id."""
    with transaction.atomic():
        ConceptQuery.objects.filter(channel=channel, status=ConceptQueryStatus.QUEUED).update(
            status=ConceptQueryStatus.SUPERSEDED
        )
        query = ConceptQuery.objects.create(
            image=image, channel=channel, request_id=request_id, params=params
        )
        enqueue_on_commit(CONCEPT_QUERY, query.pk)
    return int(query.pk)


def do_supersede(channel: str) -> None:
    """The socket is gone (or gave up): its queries are no longer wanted."""
    ConceptQuery.objects.filter(channel=channel).exclude(status=ConceptQueryStatus.DONE).update(
        status=ConceptQueryStatus.SUPERSEDED
    )


def do_supersede_query(query_id: int) -> None:
    ConceptQuery.objects.filter(pk=query_id).update(status=ConceptQueryStatus.SUPERSEDED)


def take_answer(query_id: int) -> ConceptQuery | None:
    """The answered (done or failed) row, deleted as it is read; None while waiting."""
    with transaction.atomic():
        row = (
            ConceptQuery.objects.select_for_update()
            .filter(pk=query_id, status__in=(ConceptQueryStatus.DONE, ConceptQueryStatus.FAILED))
            .first()
        )
        if row is not None:
            ConceptQuery.objects.filter(pk=query_id).delete()
    return row


def do_discard_stale(older_than_seconds: int) -> int:
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    deleted, _ = ConceptQuery.objects.filter(created_at__lt=cutoff).delete()
    return int(deleted)


# ------------------------------------------------------------------ duplicates
def saved_masks(image: Image) -> list[np.ndarray]:
    """The image's masks people keep (every status but proposed), as booleans."""
    from inference.masks import rle_decode

    rows = Annotation.objects.filter(image=image).exclude(status=AnnotationStatus.PROPOSED)
    return [rle_decode(row.rle).astype(bool) for row in rows.only("rle")]


def drop_duplicates(found: list[Any], saved: list[np.ndarray]) -> list[Any]:
    """`found` without the instances that overlap a saved mask at IoU > DUPLICATE_IOU."""
    if not saved:
        return found
    from inference.masks import rle_decode

    kept = []
    for instance in found:
        mask = rle_decode(instance.rle).astype(bool)
        if not any(iou(mask, other) > DUPLICATE_IOU for other in saved):
            kept.append(instance)
    return kept


def iou(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return 0.0
    union = int(np.logical_or(a, b).sum())
    return int(np.logical_and(a, b).sum()) / union if union else 0.0


# ------------------------------------------------------------------ Find all
def do_replace_concept_proposals(image: Image, found: list[tuple[int, Any]]) -> int:
    """Make `found` ((category id, instance) pairs) the image's concept proposals,
    replacing its earlier ones only: saved masks and SAM's automatic proposals stay."""
    with transaction.atomic():
        Image.objects.select_for_update().filter(pk=image.pk).first()
        stale = Annotation.objects.filter(
            image=image, status=AnnotationStatus.PROPOSED, source=AnnotationSource.CONCEPT
        )
        for old in stale:
            do_delete_annotation(image, old.pk, None, expected_version=old.version)
        for category_id, instance in found:
            do_create_annotation(
                image,
                None,
                rle=instance.rle,
                source=AnnotationSource.CONCEPT,
                status=AnnotationStatus.PROPOSED,
                category_id=category_id,
                score=instance.score,
            )
    return len(found)


def do_start_concepts(
    project: Project,
    user: Any,
    image_ids: list[int] | None,
    category_ids: list[int],
    threshold: Any = 0.5,
) -> ConceptJob:
    """Queue Find all for these images (None: every image) and categories."""
    check_available(project)
    try:
        level = float(threshold)
    except (TypeError, ValueError):
        raise ServiceError("The threshold must be a number.") from None
    if not 0.0 <= level <= 1.0:
        raise ServiceError("The threshold is between 0 and 1.")
    if not isinstance(category_ids, list) or not category_ids:
        raise ServiceError("Pick at least one category.")
    if len(category_ids) > MAX_CATEGORIES_PER_JOB:
        raise ServiceError(f"At most {MAX_CATEGORIES_PER_JOB} categories per run.")
    categories = list(
        Category.objects.filter(project=project, pk__in=category_ids)
        .order_by("order", "pk")
        .values_list("pk", flat=True)
    )
    if len(categories) != len(set(category_ids)):
        raise ServiceError("Pick categories of this project.")
    images = Image.objects.filter(project=project)
    if image_ids is not None:
        images = images.filter(pk__in=image_ids)
    ids = list(images.order_by("pk").values_list("pk", flat=True)[: MAX_IMAGES_PER_JOB + 1])
    if not ids:
        raise ServiceError("Pick at least one image of this project.")
    if len(ids) > MAX_IMAGES_PER_JOB:
        raise ServiceError(f"At most {MAX_IMAGES_PER_JOB} images per run.")
    with transaction.atomic():
        job = ConceptJob.objects.create(
            project=project,
            created_by=user,
            image_ids=ids,
            category_ids=categories,
            threshold=level,
            total=len(ids),
        )
        enqueue_on_commit(RUN_CONCEPTS, job.pk)
    return job


def do_cancel_concepts(project: Project, job_id: int) -> ConceptJob:
    """Stop a queued or running Find all; a running one stops before its next image."""
    return do_cancel_job(
        ConceptJob,
        project,
        job_id,
        noun="Find all job",
        finished_noun="job",
        error="Canceled. Images done before the cancel keep their proposals.",
    )


def job_json(job: ConceptJob) -> dict[str, Any]:
    names = dict(Category.objects.filter(pk__in=job.category_ids).values_list("pk", "name"))
    return {
        **job.progress_json(),
        "proposals": job.proposals,
        "threshold": job.threshold,
        "categories": [
            {"id": pk, "name": names.get(pk, ""), "count": int(job.counts.get(str(pk), 0))}
            for pk in job.category_ids
        ],
        "error": job.error,
    }
