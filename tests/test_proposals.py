"""Machine proposals from the UI: a background job over images, with the project's
quality filters, whose masks arrive as proposals to accept or discard."""

from __future__ import annotations

from typing import Any

import pytest

from inference.testing import save_tiny_sam
from labeling.models import Annotation, Image, Project, ProposalJob
from labeling.services.uploads import do_add_image
from labeling.tasks import run_proposals
from tests.conftest import Personas, drain_queue, image_row
from tests.test_embedding_worker import picture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny_sam(tmp_path_factory.mktemp("models") / "tiny-sam"))


@pytest.fixture
def images(personas: Personas, tiny_sam: str, settings: Any) -> list[Image]:
    drain_queue(settings.CELERY_QUEUE_DEFAULT)
    settings.ANYMASK_PROPOSAL_POINTS_PER_SIDE = 6  # a tiny grid: the test is about the job
    personas.project.model_spec = tiny_sam
    personas.project.save()
    added = [
        do_add_image(personas.project, personas.owner, picture(30 + i), f"{i}.png")
        for i in range(3)
    ]
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)  # the job computes what it needs
    return added


def run_queued(settings: Any) -> ProposalJob:
    queued = drain_queue(settings.CELERY_QUEUE_DEFAULT)
    assert [name for name, _ in queued] == ["labeling.tasks.run_proposals"]
    assert run_proposals(*queued[0][1]) == "done"
    return ProposalJob.objects.get(pk=queued[0][1][0])


def test_proposals_for_a_selection_follow_the_projects_filters(
    personas: Personas, images: list[Image], settings: Any
) -> None:
    owner = personas.client("owner")
    base = f"/projects/{personas.project.pk}/proposals"
    # Random weights predict low quality: open the filters wide first.
    owner.post(f"{base}/filters", {"min_iou": "0", "min_stability": "0", "min_area": "0"})
    response = owner.post(f"{base}/", {"scope": "images", "image": [images[0].pk, images[2].pk]})
    assert response.status_code == 302
    job = run_queued(settings)
    proposed = Annotation.objects.filter(status="proposed", source="auto")
    assert (job.status, job.done, job.total) == ("done", 2, 2)
    assert job.proposals == proposed.count() > 0
    assert set(proposed.values_list("image_id", flat=True)) == {images[0].pk, images[2].pk}
    status = owner.get(f"/projects/{personas.project.pk}/status.json").json()
    assert status["proposal_jobs"][0] | {"id": 0} == {
        "id": 0, "status": "done", "done": 2, "total": 2, "proposals": job.proposals, "error": "",
    }  # fmt: skip

    # Strict filters: a second run replaces the proposals with (here) none.
    owner.post(f"{base}/filters", {"min_iou": "0", "min_stability": "0", "min_area": "100000"})
    owner.post(f"{base}/", {"scope": "project"})
    job = run_queued(settings)
    assert (job.total, job.proposals) == (3, 0) and not proposed.exists()


def test_bad_input_starts_nothing(personas: Personas, images: list[Image], settings: Any) -> None:
    owner = personas.client("owner")
    base = f"/projects/{personas.project.pk}/proposals"
    foreign = Project.objects.get(name="Oscar's own")
    foreign_image = image_row(foreign, 99)
    for data in ({"scope": "images"}, {"image": ["x"]}, {"image": [foreign_image.pk]}):
        owner.post(f"{base}/", data)
    assert not ProposalJob.objects.exists() and drain_queue(settings.CELERY_QUEUE_DEFAULT) == []
    owner.post(f"{base}/filters", {"min_iou": "1.5", "min_stability": "0", "min_area": "0"})
    project = Project.objects.get(pk=personas.project.pk)
    assert project.proposal_min_iou == 0.88  # unchanged


@pytest.mark.parametrize(
    ("who", "code"), [("annotator", 403), ("reviewer", 403), ("outsider", 404)]
)
def test_only_admins_run_proposals(
    personas: Personas, images: list[Image], settings: Any, who: str, code: int
) -> None:
    client = personas.client(who)
    base = f"/projects/{personas.project.pk}/proposals"
    assert client.post(f"{base}/", {"scope": "project"}).status_code == code
    assert (
        client.post(
            f"{base}/filters", {"min_iou": "0", "min_stability": "0", "min_area": "0"}
        ).status_code
        == code
    )
    assert not ProposalJob.objects.exists() and drain_queue(settings.CELERY_QUEUE_DEFAULT) == []
