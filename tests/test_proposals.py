"""Machine proposals from the UI: a background job over images, with the project's
quality filters, whose masks arrive as proposals to accept or discard."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db.models.signals import post_save

from inference.testing import save_tiny_sam
from labeling.models import Annotation, Image, Project, ProposalJob
from labeling.services.proposals import do_cancel_proposals, job_json
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
    drain_queue(settings.CELERY_QUEUE_AUTOMATIC)
    settings.ANYMASK_PROPOSAL_POINTS_PER_SIDE = 6  # a tiny grid: the test is about the job
    personas.project.model_spec = tiny_sam
    personas.project.save()
    added = [
        do_add_image(personas.project, personas.owner, picture(30 + i), f"{i}.png")
        for i in range(3)
    ]
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)  # the job computes what it needs
    return added


def run_queued(settings: Any, outcome: str = "done") -> ProposalJob:
    queued = drain_queue(settings.CELERY_QUEUE_AUTOMATIC)
    assert [name for name, _ in queued] == ["labeling.tasks.run_proposals"]
    assert run_proposals(*queued[0][1]) == outcome
    return ProposalJob.objects.get(pk=queued[0][1][0])


def owner_with_open_filters(personas: Personas) -> tuple[Any, str]:
    """The admin's client and the proposals URL, with the filters opened wide: random
    weights predict low quality."""
    owner = personas.client("owner")
    base = f"/projects/{personas.project.pk}/proposals"
    owner.post(f"{base}/filters", {"min_iou": "0", "min_stability": "0", "min_area": "0"})
    return owner, base


def test_proposals_for_a_selection_follow_the_projects_filters(
    personas: Personas, images: list[Image], settings: Any
) -> None:
    owner, base = owner_with_open_filters(personas)
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
        "where": "", "why": [],
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
    assert not ProposalJob.objects.exists() and drain_queue(settings.CELERY_QUEUE_AUTOMATIC) == []
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
    assert not ProposalJob.objects.exists() and drain_queue(settings.CELERY_QUEUE_AUTOMATIC) == []


def test_a_canceled_queued_job_never_runs(
    personas: Personas, images: list[Image], settings: Any
) -> None:
    owner, base = owner_with_open_filters(personas)
    owner.post(f"{base}/", {"scope": "project"})
    job = ProposalJob.objects.get()
    page = owner.get(f"/projects/{personas.project.pk}/").content.decode()
    assert f"{base}/{job.pk}/cancel" in page  # the queued job offers Cancel

    response = owner.post(f"{base}/{job.pk}/cancel", follow=True)
    assert "Proposals canceled with 0 of 3 images done;" in response.content.decode()
    job = run_queued(settings, outcome="not queued")  # the worker finds it canceled
    assert job.status == "canceled" and job.finished_at is not None
    assert not Annotation.objects.exists()
    status = owner.get(f"/projects/{personas.project.pk}/status.json").json()
    assert status["proposal_jobs"][0]["status"] == "canceled"
    assert "Canceled" in status["proposal_jobs"][0]["error"]
    assert (
        f"{base}/{job.pk}/cancel"
        not in owner.get(f"/projects/{personas.project.pk}/").content.decode()
    )


@pytest.fixture
def cancel_on_first_proposal() -> Iterator[list[int]]:
    """Cancels the running job the moment its first proposal is saved, as an admin
    pressing Cancel while the worker is inside an image would."""
    canceled: list[int] = []

    def receiver(instance: Annotation, created: bool, **kwargs: Any) -> None:
        if created and not canceled:
            job = ProposalJob.objects.get(status="running")
            canceled.append(do_cancel_proposals(job.project, job.pk).pk)

    post_save.connect(receiver, sender=Annotation, dispatch_uid="cancel-test")
    yield canceled
    post_save.disconnect(sender=Annotation, dispatch_uid="cancel-test")


def test_a_cancel_stops_a_running_job_before_its_next_image(
    personas: Personas, images: list[Image], settings: Any, cancel_on_first_proposal: list[int]
) -> None:
    owner, base = owner_with_open_filters(personas)
    owner.post(f"{base}/", {"scope": "project"})
    job = run_queued(settings, outcome="canceled")
    assert cancel_on_first_proposal == [job.pk]
    # The image being worked on finished and keeps its proposals; no other started.
    proposed = set(Annotation.objects.values_list("image_id", flat=True))
    assert len(proposed) == 1
    assert job.status == "canceled" and job.done < job.total == 3
    assert job.proposals == Annotation.objects.count() > 0


def test_a_finished_job_cannot_be_canceled(
    personas: Personas, images: list[Image], settings: Any
) -> None:
    owner, base = owner_with_open_filters(personas)
    owner.post(f"{base}/", {"scope": "images", "image": [images[0].pk]})
    job = run_queued(settings)
    response = owner.post(f"{base}/{job.pk}/cancel", follow=True)
    assert "This job has already finished." in response.content.decode()
    assert ProposalJob.objects.get(pk=job.pk).status == "done"
    # Another project's job id is not found through this project.
    foreign = Project.objects.get(name="Oscar's own")
    other = ProposalJob.objects.create(project=foreign, image_ids=[], total=0)
    response = owner.post(f"{base}/{other.pk}/cancel", follow=True)
    assert "No such proposal job in this project." in response.content.decode()
    assert ProposalJob.objects.get(pk=other.pk).status == "queued"


def job_row(owner: Any, personas: Personas) -> dict[str, Any]:
    status = owner.get(f"/projects/{personas.project.pk}/status.json").json()
    return status["proposal_jobs"][0]


def test_a_run_that_keeps_nothing_says_which_filter_removed_everything(
    personas: Personas, images: list[Image], settings: Any
) -> None:
    owner, base = owner_with_open_filters(personas)
    # A predicted IoU above 1 is impossible: every candidate of the 6 x 6 grid goes.
    owner.post(f"{base}/filters", {"min_iou": "1", "min_stability": "0", "min_area": "0"})
    owner.post(f"{base}/", {"scope": "images", "image": [images[0].pk]})
    job = run_queued(settings)
    assert (job.status, job.proposals, job.empty_images) == ("done", 0, 1)
    row = job_row(owner, personas)
    assert row["why"] == [
        "No proposals for 0.png: all 108 candidates filtered out by predicted IoU ≤ 1"
    ]
    page = owner.get(f"/projects/{personas.project.pk}/").content.decode()
    assert "No proposals for 0.png: all 108 candidates filtered out by predicted IoU ≤ 1" in page
    assert "1/1 image, 0 proposals" in page  # singular where it is one

    # Wide IoU, impossible stability: the stability filter is named.
    owner.post(f"{base}/filters", {"min_iou": "0", "min_stability": "1", "min_area": "0"})
    owner.post(f"{base}/", {"scope": "images", "image": [images[1].pk]})
    run_queued(settings)
    [line] = job_row(owner, personas)["why"]
    assert line.startswith("No proposals for 1.png: all 108 candidates filtered out")
    assert "by stability score ≤ 1" in line

    # Everything passes but the minimum area (the whole image is 320 x 240).
    owner.post(f"{base}/filters", {"min_iou": "0", "min_stability": "0", "min_area": "100000"})
    owner.post(f"{base}/", {"scope": "images", "image": [images[2].pk]})
    run_queued(settings)
    [line] = job_row(owner, personas)["why"]
    assert line.startswith("No proposals for 2.png: all 108 candidates filtered out")
    assert "by min area < 100000 px" in line


def test_an_image_whose_embedding_failed_is_skipped_with_the_reason(
    personas: Personas, images: list[Image], settings: Any
) -> None:
    owner, base = owner_with_open_filters(personas)
    Image.objects.filter(pk=images[1].pk).update(
        embedding_status="failed", embedding_error="The file is not a readable image."
    )
    owner.post(f"{base}/", {"scope": "project"})
    job = run_queued(settings)
    assert job.status == "done" and job.proposals > 0 and job.empty_images == 1
    assert not Annotation.objects.filter(image=images[1]).exists()
    assert job_row(owner, personas)["why"] == [
        "No proposals for 1.png: image not embedded: The file is not a readable image."
    ]


@pytest.fixture
def seen_while_running() -> Iterator[list[dict[str, Any]]]:
    """What the job's row said each time a proposal was saved, mid-image."""
    seen: list[dict[str, Any]] = []

    def receiver(instance: Annotation, created: bool, **kwargs: Any) -> None:
        job = ProposalJob.objects.get(status="running")
        seen.append({"image": instance.image.original_name, "where": job_json(job)["where"]})

    post_save.connect(receiver, sender=Annotation, dispatch_uid="where-test")
    yield seen
    post_save.disconnect(sender=Annotation, dispatch_uid="where-test")


def test_a_running_job_says_which_image_and_how_far_into_it(
    personas: Personas,
    images: list[Image],
    settings: Any,
    seen_while_running: list[dict[str, Any]],
) -> None:
    owner, base = owner_with_open_filters(personas)
    owner.post(f"{base}/", {"scope": "project"})
    assert run_queued(settings).status == "done"
    by_image = {row["image"]: row["where"] for row in seen_while_running}
    # Proposals are saved once the image's 36 clicks are all decoded.
    assert by_image == {
        "0.png": "image 1 of 3: 0.png · points 36/36",
        "1.png": "image 2 of 3: 1.png · points 36/36",
        "2.png": "image 3 of 3: 2.png · points 36/36",
    }
    assert job_row(owner, personas)["where"] == ""  # done: nothing in progress
