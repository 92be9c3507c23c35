"""Find all (concept proposals over a project) and the worker's feature cache, with a
tiny random SAM 3 checkpoint loaded through the same path as facebook/sam3."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from PIL import Image as PILImage

from inference.concepts import clear_concept_models
from inference.concepts.testing import save_tiny_sam3
from labeling.jobs import concepts as worker_side
from labeling.models import (
    Annotation,
    AnnotationSource,
    AnnotationStatus,
    Category,
    ConceptJob,
    Image,
    JobStatus,
    Project,
)
from labeling.services.annotations import do_create_annotation
from labeling.services.categories import do_create_category
from labeling.services.concepts import availability
from labeling.services.uploads import do_add_image
from labeling.tasks import run_concepts
from tests.api_helpers import api_for
from tests.conftest import Personas, drain_queue, image_row
from tests.test_embedding_worker import picture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def tiny_sam3(tmp_path_factory: pytest.TempPathFactory) -> str:
    # 56 px: the smallest input the tiny config takes, so 200 images stay quick.
    return str(save_tiny_sam3(tmp_path_factory.mktemp("models") / "tiny-sam3", image_size=56))


@pytest.fixture
def concepts_on(personas: Personas, tiny_sam3: str, settings: Any) -> Any:
    settings.ANYMASK_CONCEPT_MODEL = tiny_sam3
    personas.project.concepts_enabled = True
    personas.project.save()
    drain_queue(settings.CELERY_QUEUE_CONCEPTS)
    yield personas.project
    drain_queue(settings.CELERY_QUEUE_CONCEPTS)
    clear_concept_models()


@pytest.fixture
def images(personas: Personas, concepts_on: Any, settings: Any) -> list[Image]:
    added = [
        do_add_image(personas.project, personas.owner, picture(40 + i, (112, 84)), f"{i}.png")
        for i in range(2)
    ]
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)
    return added


@pytest.fixture
def categories(personas: Personas) -> list[Category]:
    return [
        do_create_category(personas.project, name=name, color="#ff0000") for name in ("dog", "car")
    ]


def run_queued(settings: Any, outcome: str = "done") -> ConceptJob:
    queued = drain_queue(settings.CELERY_QUEUE_CONCEPTS)
    assert [name for name, _ in queued] == ["labeling.tasks.run_concepts"]
    assert run_concepts(*queued[0][1]) == outcome
    return ConceptJob.objects.get(pk=queued[0][1][0])


def find_all(personas: Personas, categories: list[Category], **extra: Any) -> Any:
    return personas.client("owner").post(
        f"/projects/{personas.project.pk}/concepts/",
        {"scope": "project", "category": [c.pk for c in categories], "threshold": "0", **extra},
    )


def test_find_all_stores_proposals_per_category_and_replaces_only_concept_ones(
    personas: Personas, images: list[Image], categories: list[Category], settings: Any
) -> None:
    image = images[0]
    full = {"size": [84, 112], "counts": [0, 84 * 112]}
    kept = do_create_annotation(image, personas.owner, rle=full, source=AnnotationSource.MANUAL)
    auto = do_create_annotation(
        image, None, rle=full, source=AnnotationSource.AUTO, status=AnnotationStatus.PROPOSED
    )
    assert find_all(personas, categories).status_code == 302
    job = run_queued(settings)
    proposals = Annotation.objects.filter(source=AnnotationSource.CONCEPT)
    assert job.status == JobStatus.DONE and job.done == job.total == 2
    assert job.proposals == proposals.count() > 0
    counts = {c.pk: proposals.filter(category=c).count() for c in categories}
    assert job.counts == {str(pk): n for pk, n in counts.items()}
    assert all(p.status == AnnotationStatus.PROPOSED and p.score is not None for p in proposals)
    first_ids = set(proposals.values_list("pk", flat=True))

    # A second run replaces the concept proposals, and nothing else.
    assert find_all(personas, categories[:1]).status_code == 302
    second = run_queued(settings)
    again = Annotation.objects.filter(source=AnnotationSource.CONCEPT)
    assert not first_ids & set(again.values_list("pk", flat=True))
    assert set(again.values_list("category", flat=True)) <= {categories[0].pk}
    assert second.proposals == again.count()
    assert Annotation.objects.filter(pk__in=[kept.pk, auto.pk]).count() == 2
    page = personas.client("owner").get(f"/projects/{personas.project.pk}/")
    assert b"dog: " in page.content


def test_a_duplicate_of_a_saved_mask_is_not_proposed(
    personas: Personas, images: list[Image], categories: list[Category], settings: Any
) -> None:
    find_all(personas, categories[:1])
    run_queued(settings)
    found = Annotation.objects.filter(source=AnnotationSource.CONCEPT, image=images[0])
    victim = found.first()
    assert victim is not None
    # Someone saves exactly that mask: the next run must not offer it again.
    do_create_annotation(images[0], personas.owner, rle=victim.rle, source="manual")
    find_all(personas, categories[:1])
    run_queued(settings)
    again = Annotation.objects.filter(source=AnnotationSource.CONCEPT, image=images[0])
    assert victim.rle not in [a.rle for a in again]


def test_a_canceled_job_never_runs_and_annotators_cannot_start_one(
    personas: Personas, images: list[Image], categories: list[Category], settings: Any
) -> None:
    base = f"/projects/{personas.project.pk}/concepts"
    annotator = personas.client("annotator").post(
        f"{base}/", {"scope": "project", "category": [categories[0].pk]}
    )
    assert annotator.status_code in (403, 404)
    outsider = personas.client("outsider").post(
        f"{base}/", {"scope": "project", "category": [categories[0].pk]}
    )
    assert outsider.status_code == 404
    assert not ConceptJob.objects.exists()
    find_all(personas, categories)
    job = ConceptJob.objects.get()
    assert personas.client("owner").post(f"{base}/{job.pk}/cancel").status_code == 302
    assert run_queued(settings, "not queued").status == JobStatus.CANCELED
    assert not Annotation.objects.filter(source=AnnotationSource.CONCEPT).exists()


def test_foreign_categories_and_a_disabled_project_start_nothing(
    personas: Personas, images: list[Image], categories: list[Category], settings: Any
) -> None:
    elsewhere = Project.objects.get(name="Oscar's own")
    other = Category.objects.create(project=elsewhere, name="x")
    find_all(personas, [other])
    assert not ConceptJob.objects.exists()
    personas.project.concepts_enabled = False
    personas.project.save()
    response = find_all(personas, categories)
    assert not ConceptJob.objects.exists()
    page = personas.client("owner").get(response["Location"])
    assert b"Concept prompts are off for this project" in page.content


def test_unconfigured_and_not_downloaded_models_say_why_and_the_fix(
    personas: Personas, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    personas.project.concepts_enabled = True
    personas.project.save()
    image_row(personas.project, 1)  # the project page shows the card once there are images
    settings.ANYMASK_CONCEPT_MODEL = ""
    state = availability(personas.project)
    assert not state["available"] and "no concept model is configured" in state["reason"]
    settings.ANYMASK_CONCEPT_MODEL = "sam3"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    state = availability(personas.project)
    assert not state["available"] and "not downloaded" in state["reason"]
    assert state["fix"] == ["make fetch-model MODEL=sam3"]
    page = personas.client("owner").get(f"/projects/{personas.project.pk}/")
    assert b"make fetch-model MODEL=sam3" in page.content


@pytest.mark.timeout(900)
def test_200_images_keep_the_workers_feature_cache_under_its_limit(
    personas: Personas, concepts_on: Any, settings: Any
) -> None:
    settings.ANYMASK_CONCEPT_CACHE_MB = 1
    media = Path(settings.MEDIA_ROOT)
    media.mkdir(parents=True, exist_ok=True)
    model = worker_side.concept_model()
    cache = worker_side.feature_cache()
    cache.clear()
    limit = 1024 * 1024
    sizes = []
    for index in range(200):
        row = image_row(personas.project, index, size=(16, 12))
        PILImage.new("RGB", (16, 12), (index, 255 - index, 7)).save(media / f"{index}.png")
        features = worker_side.features_for(model, row)
        sizes.append(features.nbytes)
        assert cache.bytes <= limit
    assert 1 < len(cache) < 200  # it kept some, and evicted the rest
    assert cache.bytes == sum(sizes[-len(cache) :])
    # The next phrase on the latest image reuses its features: the same object.
    assert worker_side.features_for(model, row) is features


def test_find_all_over_the_api_start_list_cancel_and_roles(
    personas: Personas, images: list[Image], categories: list[Category], settings: Any
) -> None:
    base = f"/projects/{personas.project.pk}/concepts/jobs"
    body = {"categories": [categories[0].pk], "images": [images[1].pk], "threshold": 0}
    assert api_for(personas.annotator).call("POST", base, body).status_code == 403
    assert api_for(personas.outsider).call("POST", base, body).status_code == 404
    owner = api_for(personas.owner)
    started = owner.call("POST", base, body)
    assert started.status_code == 202, started.content
    job = started.json()
    assert job["total"] == 1 and job["categories"][0]["name"] == "dog"
    assert [j["id"] for j in owner.get(base).json()] == [job["id"]]
    canceled = owner.call("POST", f"{base}/{job['id']}/cancel")
    assert canceled.json()["status"] == "canceled"
    assert owner.call("POST", f"{base}/{job['id']}/cancel").status_code == 400
    drain_queue(settings.CELERY_QUEUE_CONCEPTS)


def test_fetch_model_handles_concept_specs(
    tiny_sam3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    call_command("fetch_model", tiny_sam3, stdout=out)
    assert f"{tiny_sam3} is ready" in out.getvalue()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    with pytest.raises(CommandError, match="sam3"):
        call_command("fetch_model", "sam3", stdout=io.StringIO())
