"""The model a project decodes with: its base model plus its adopted tuned decoder.

Every user of a project's model (labeling clicks, proposals, COCO box imports, the
evaluator, warm start) asks here, never `load_model(project.model_spec)`, so an
adopted version is what they all decode with. A version is only a mask decoder
(see inference.finetune.decoder_state): it loads next to the shared base encoder,
once per process, in a small LRU keyed by (spec, version id).

`ModelRef` is the plain-data name of such a model (spec, version id, decoder file),
so the labeling socket can carry it from its access check into the decode pool
without touching the database there.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.storage import default_storage

from inference import ModelUnavailableError, canonical_spec
from labeling.model_versions import ModelVersion
from labeling.models import Project

if TYPE_CHECKING:
    from inference import SegmentationModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRef:
    """A base model spec, and the version (id and decoder file) on top, if any."""

    spec: str
    version_id: int | None = None
    decoder_file: str = ""


class _Adopted:
    """`model_for`'s default: whatever version the project has adopted."""


ADOPTED = _Adopted()

_versions: OrderedDict[tuple[str, int], SegmentationModel] = OrderedDict()
_lock = threading.Lock()
_load_lock = threading.Lock()


def ref_for(project: Project, version: ModelVersion | _Adopted | None = ADOPTED) -> ModelRef:
    """The `ModelRef` of `project` with `version` (default: its adopted one).

    A version tuned on another base model than the project's current one (the
    project changed its model since) does not fit: the base model is used.
    """
    if isinstance(version, _Adopted):
        if project.adopted_version_id is None:
            return ModelRef(project.model_spec)
        version = ModelVersion.objects.filter(pk=project.adopted_version_id).first()
    if version is None:
        return ModelRef(project.model_spec)
    if version.project_id != project.pk:
        raise ValueError(f"{version} is not a version of project {project.pk}")
    if canonical_spec(version.base_spec) != canonical_spec(project.model_spec):
        logger.warning(
            "%s was tuned on %s, not %s: using the base",
            version,
            version.base_spec,
            project.model_spec,
        )
        return ModelRef(project.model_spec)
    return ModelRef(project.model_spec, version.pk, version.decoder_file)


def model_for(
    project: Project, version: ModelVersion | _Adopted | None = ADOPTED
) -> SegmentationModel:
    """The project's model: the base model with `version`'s decoder (default: the
    adopted version; None: the base model itself)."""
    return load_ref(ref_for(project, version))


def load_ref(ref: ModelRef) -> SegmentationModel:
    """The model `ref` names, loaded once per process (the base through
    `inference.load_model`, a version's decoder from media storage on top of it)."""
    from inference import load_model

    base = load_model(ref.spec)
    if ref.version_id is None:
        return base
    key = (ref.spec, ref.version_id)
    with _lock:
        found = _versions.get(key)
        if found is not None:
            _versions.move_to_end(key)
            return found
    with _load_lock:  # one version load at a time: each reads a file and copies a decoder
        with _lock:
            found = _versions.get(key)
        if found is None:
            found = _load_version(base, ref)
        with _lock:
            _versions[key] = found
            _versions.move_to_end(key)
            while len(_versions) > settings.ANYMASK_MODEL_VERSION_CACHE_SIZE:
                _versions.popitem(last=False)
    return found


def forget_versions() -> None:
    """Drop every loaded version (tests; a deleted version's file)."""
    with _lock:
        _versions.clear()


def _load_version(base: SegmentationModel, ref: ModelRef) -> SegmentationModel:
    from inference.finetune.decoder_state import decoder_from_bytes, with_decoder_state

    try:
        # Bytes, never .path(): the storage may be S3.
        with default_storage.open(ref.decoder_file, "rb") as handle:
            data = handle.read()
    except (OSError, ValueError) as error:
        raise ModelUnavailableError(
            f"the tuned decoder {ref.decoder_file!r} cannot be read ({error})"
        ) from error
    state = decoder_from_bytes(data, base)
    return with_decoder_state(base, state, f"version {ref.version_id}")
