"""The project dashboard: progress by labeling status and per-annotator figures."""

from __future__ import annotations

import re

import numpy as np
import pytest

from inference.masks import rle_encode
from labeling.models import Image, LabelingStatus
from labeling.services.annotations import do_create_annotation
from tests.conftest import Personas, image_row

pytestmark = pytest.mark.django_db


def mask() -> dict[str, object]:
    m = np.zeros((10, 10), bool)
    m[2:5, 2:5] = True
    return rle_encode(m)


def cell(page: str, who: str, stat: str) -> str:
    row = re.search(rf'<tr data-annotator="{who}">(.*?)</tr>', page, re.S)
    assert row, who
    found = re.search(rf'data-stat="{stat}"[^>]*>([^<]*)<', row.group(1))
    assert found, stat
    return found.group(1).strip()


def test_the_dashboard_shows_progress_and_what_each_annotator_did(personas: Personas) -> None:
    project = personas.project
    images = [image_row(project, i) for i in range(4)]
    annie, owner = personas.annotator, personas.owner
    made = [  # (who, image, status, source, clicks, seconds)
        (annie, 0, "approved", "sam", 2, 10.0),
        (annie, 0, "approved", "sam", 4, 20.0),
        (annie, 1, "rejected", "sam", 6, 40.0),
        (annie, 1, "submitted", "manual", None, 5.0),
        (owner, 2, "draft", "sam", 1, 3.0),
        (None, 3, "proposed", "auto", None, None),  # a machine proposal: nobody's work
    ]
    for who, index, status, source, clicks, seconds in made:
        do_create_annotation(
            images[index], who, rle=mask(), source=source, status=status,
            clicks=clicks, edit_seconds=seconds,
        )  # fmt: skip
    Image.objects.filter(pk=images[1].pk).update(labeling_status=LabelingStatus.SUBMITTED)
    page = personas.client("reviewer").get(f"/projects/{project.pk}/dashboard/").content.decode()

    progress = dict(re.findall(r'data-progress="(\w+)">(\d+)<', page))
    assert progress == {
        "unlabeled": "1", "in_progress": "2", "submitted": "1", "approved": "0", "rejected": "0",
    }  # fmt: skip
    assert cell(page, "annie", "masks") == "4"
    assert cell(page, "annie", "approval") == "67%"  # 2 of the 3 decided
    assert cell(page, "annie", "clicks") == "4"  # median of 2, 4, 6
    assert cell(page, "annie", "seconds") == "38 s"  # images: 30 s and 45 s
    assert cell(page, "owner", "approval") == "—"  # nothing reviewed yet
    assert 'data-annotator="None"' not in page


@pytest.mark.parametrize(
    ("who", "code"), [("owner", 200), ("reviewer", 200), ("annotator", 403), ("outsider", 404)]
)
def test_reviewers_and_admins_see_the_dashboard(personas: Personas, who: str, code: int) -> None:
    response = personas.client(who).get(f"/projects/{personas.project.pk}/dashboard/")
    assert response.status_code == code
