"""SAM 3 concept prompts: every instance of a named thing (or of a boxed example).

Separate from the click models (`inference.model`): SAM 3's features are too large to
store per image, so they are computed on demand and kept in a byte-bounded LRU.
"""

from __future__ import annotations

from .cache import ByteLRU
from .loading import CONCEPT_MODELS, clear_concept_models, concept_checkpoint, load_concept_model
from .model import MAX_EXEMPLARS, MAX_INSTANCES, ConceptFeatures, ConceptModel, Exemplar
from .postprocess import Instance, mask_nms

__all__ = [
    "CONCEPT_MODELS",
    "MAX_EXEMPLARS",
    "MAX_INSTANCES",
    "ByteLRU",
    "ConceptFeatures",
    "ConceptModel",
    "Exemplar",
    "Instance",
    "clear_concept_models",
    "concept_checkpoint",
    "load_concept_model",
    "mask_nms",
]
