"""The `concepts` worker's side of concept prompts (SAM 3): socket queries
(`answer_query`) and Find all (`perform_concepts`).

A worker keeps the vision features it has just computed in a byte-bounded LRU
(ANYMASK_CONCEPT_CACHE_MB; one image's are about 56 MB in bf16), so the next phrase
on that image costs only the prompt-side heads. Find all computes each image's
features once for all its categories, and the engine caches each phrase's text
features, so a job encodes each category's name once.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from labeling.events import nudge_pages_on_commit
from labeling.imaging import model_input
from labeling.jobs.progress import RowProgress, claim_queued
from labeling.models import (
    Category,
    ConceptJob,
    ConceptQuery,
    ConceptQueryStatus,
    Image,
    JobStatus,
)
from labeling.services import concepts as service

logger = logging.getLogger(__name__)

_features: Any = None


def feature_cache() -> Any:
    """This worker's features LRU (made on first use, at the configured size)."""
    global _features
    from inference.concepts import ByteLRU

    limit = settings.ANYMASK_CONCEPT_CACHE_MB * 1024 * 1024
    if _features is None or _features.max_bytes != limit:
        _features = ByteLRU(limit, lambda features: int(features.nbytes))
    return _features


def concept_model() -> Any:
    from inference.concepts import load_concept_model

    return load_concept_model(settings.ANYMASK_CONCEPT_MODEL)


def features_for(model: Any, image: Image) -> Any:
    """The image's vision features: from this worker's cache, else computed (and kept)."""
    cache = feature_cache()
    key = (model.spec, image.sha256)
    found = cache.get(key)
    if found is None:
        with image.file.open("rb") as handle:
            pixels = model_input(handle)
        found = model.vision_features(pixels)
        cache.put(key, found)
    return found


def instances_for(model: Any, features: Any, params: dict[str, Any], limit: int) -> list[Any]:
    """One query's instances: each phrase (refined by the exemplar boxes), or the
    boxes alone; merged best first, at most `limit`."""
    from inference.concepts import Exemplar

    exemplars = [Exemplar(tuple(box[:4]), bool(box[4])) for box in params["exemplars"]]
    texts: list[str | None] = list(params["phrases"]) or [None]
    found: list[Any] = []
    for text in texts:
        found += model.find_instances(
            features,
            text=text,
            exemplars=exemplars,
            threshold=params["threshold"],
            max_instances=limit,
        )
    found.sort(key=lambda i: -i.score)
    if len(texts) > 1:  # two phrases may name one object: keep its best hit only
        found = merged(found)
    return found[:limit]


def merged(found: list[Any], iou_above: float = 0.5) -> list[Any]:
    """Best first, without instances overlapping a better one at IoU > `iou_above`."""
    from inference.masks import rle_decode

    kept: list[Any] = []
    masks: list[Any] = []
    for instance in found:
        mask = rle_decode(instance.rle).astype(bool)
        if all(service.iou(mask, other) <= iou_above for other in masks):
            kept.append(instance)
            masks.append(mask)
    return kept


def answer_query(query_id: int) -> str:
    """Answer one socket query, unless a newer one of its socket superseded it
    (checked before the work, and again by the conditional write after it)."""
    row = ConceptQuery.objects.select_related("image__project").filter(pk=query_id).first()
    if row is None or row.status != ConceptQueryStatus.QUEUED:
        return "superseded"
    fields: dict[str, Any]
    try:
        model = concept_model()
        features = features_for(model, row.image)
        limit = settings.ANYMASK_CONCEPT_MAX_INSTANCES
        found = instances_for(model, features, row.params, limit)
        found = service.drop_duplicates(found, service.saved_masks(row.image))
        result = [instance.as_dict() for instance in found]
        fields = {"status": ConceptQueryStatus.DONE, "result": result}
    except Exception as error:
        logger.exception("concept query %s failed", query_id)
        fields = {"status": ConceptQueryStatus.FAILED, "error": f"{type(error).__name__}: {error}"}
    answered = ConceptQuery.objects.filter(pk=query_id, status=ConceptQueryStatus.QUEUED)
    if not answered.update(**fields):
        return "superseded"  # a newer query came while this one ran: dropped
    tell(row.channel, {"type": "concept.ready", "query": query_id})
    return str(fields["status"])


def tell(channel: str, event: dict[str, Any]) -> None:
    """Nudge the socket that asked; it also polls its row, so a lost nudge (or the
    embedded mode's in-process channel layer) only delays the answer."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.send)(channel, event)
    except Exception:
        logger.warning("could not tell %s its concept query is answered", channel)


def perform_concepts(job_id: int) -> str:
    if not claim_queued(ConceptJob, job_id):
        return "not queued"
    job = ConceptJob.objects.select_related("project").get(pk=job_id)
    project, progress = job.project, RowProgress(ConceptJob, job_id)
    running = ConceptJob.objects.filter(pk=job_id, status=JobStatus.RUNNING)
    names = dict(Category.objects.filter(pk__in=job.category_ids).values_list("pk", "name"))
    counts = {str(pk): 0 for pk in job.category_ids}
    stored = 0
    limit = settings.ANYMASK_CONCEPT_MAX_INSTANCES
    try:
        model = concept_model()
        for done, image in enumerate(Image.objects.filter(pk__in=job.image_ids), start=1):
            if not running.exists():  # a cancel takes effect between images
                nudge_pages_on_commit(project.pk)
                return "canceled"
            features = features_for(model, image)  # once per image, for every category
            saved = service.saved_masks(image)
            found: list[tuple[int, Any]] = []
            for pk in job.category_ids:
                if pk not in names:
                    continue  # deleted while the job ran
                params = {"phrases": [names[pk]], "exemplars": [], "threshold": job.threshold}
                hits = service.drop_duplicates(instances_for(model, features, params, limit), saved)
                counts[str(pk)] += len(hits)
                found += [(pk, hit) for hit in hits]
            stored += service.do_replace_concept_proposals(image, found)
            progress(done, len(job.image_ids))
            ConceptJob.objects.filter(pk=job_id).update(proposals=stored, counts=counts)
    except Exception as error:
        logger.exception("Find all %s failed", job_id)
        running.update(
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            error=f"Stopped: {type(error).__name__}: {error}. Images done keep their proposals.",
        )
        nudge_pages_on_commit(project.pk)
        return "failed"
    finished = running.update(
        status=JobStatus.DONE, finished_at=timezone.now(), done=len(job.image_ids)
    )
    nudge_pages_on_commit(project.pk)
    return "done" if finished else "canceled"
