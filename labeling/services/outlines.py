"""A saved mask's outline as editable polygons (the labeling page's "Edit outline").

Only reads: the page drags the vertices, fills the rings with the even-odd rule and
saves the result as an ordinary versioned mask edit (`do_update_annotation`), so a
stale outline gets the same conflict as a stale brush edit.
"""

from __future__ import annotations

from typing import Any

from inference.masks import rle_decode
from inference.outlines import MAX_OUTLINE_VERTICES, OutlineTooComplex, mask_outline
from labeling.models import Annotation, Image
from labeling.services.annotations import AnnotationNotFound
from labeling.services.errors import ServiceError


def check_outline_source(image: Image, annotation_id: int) -> Annotation:
    """The saved mask on this image whose outline is asked for."""
    annotation = Annotation.objects.filter(image=image, pk=annotation_id).first()
    if annotation is None:
        raise AnnotationNotFound("This mask no longer exists; it may have been deleted.")
    return annotation


def outline_json(annotation: Annotation, tolerance: float) -> dict[str, Any]:
    """{id, version, tolerance, rings: [[x0, y0, x1, y1, ...], ...]}: no database
    access, so the tracing can run off the socket's database thread."""
    try:
        outline = mask_outline(rle_decode(annotation.rle), tolerance, MAX_OUTLINE_VERTICES)
    except OutlineTooComplex as error:
        raise ServiceError(str(error), field="rle") from None
    return {
        "id": annotation.pk,
        "version": annotation.version,
        "tolerance": outline.tolerance,
        # Vertices are on half pixels (edge midpoints): no rounding is needed.
        "rings": [ring.ravel().tolist() for ring in outline.rings],
    }
