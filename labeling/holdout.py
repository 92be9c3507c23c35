"""The held-out split: which images of a project a model is judged on, never tuned on.

Membership is a pure function of the project and image ids (the first 8 bytes of
sha256("anymask-holdout:<project>:<image>") as a number, below 20% of 2**64), so it
never changes when images are added, deleted or relabelled, needs no stored column,
and the fine-tuner and the evaluator agree on it without talking. Hash rather than
id arithmetic: consecutive uploads (a burst from one camera) spread evenly.
"""

from __future__ import annotations

import hashlib

from django.db.models import Q

from labeling.models import Image, Project

HOLDOUT_FRACTION = 0.2
_LIMIT = int(HOLDOUT_FRACTION * 2**64)


def is_holdout_ids(project_id: int, image_id: int) -> bool:
    """True when image `image_id` of project `project_id` is held out."""
    digest = hashlib.sha256(f"anymask-holdout:{project_id}:{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < _LIMIT


def is_holdout(image: Image) -> bool:
    """True when `image` is in its project's held-out split."""
    return is_holdout_ids(image.project_id, image.pk)


def holdout_ids(project: Project) -> list[int]:
    """Ids of the project's held-out images (hashes every image id once)."""
    ids = Image.objects.filter(project=project).values_list("pk", flat=True)
    return [pk for pk in ids.iterator() if is_holdout_ids(project.pk, pk)]


def holdout_q(project: Project) -> Q:
    """A filter on Image selecting the project's held-out images
    (`~holdout_q(project)` is the training split)."""
    return Q(project=project, pk__in=holdout_ids(project))
