"""Model quality: evaluation runs through the real path (the page or API queues
`run_evaluation` on the broker, the test runs the queued task as a worker would)
with a tiny random SAM, its figures checked against the engine's own simulator,
plus ground-truth imports, versions, the command, comparison and access."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

from inference import load_model
from inference.evaluation import simulate_instance, summarize
from inference.finetune.decoder_state import decoder_state, decoder_to_bytes
from inference.masks import rle_decode, rle_encode
from inference.testing import save_tiny_sam
from labeling import embedding_store
from labeling.evaluation_models import EvaluationRun
from labeling.holdout import holdout_q, is_holdout, is_holdout_ids
from labeling.model_versions import ModelVersion
from labeling.models import (
    Annotation,
    AnnotationSource,
    AnnotationStatus,
    Category,
    Image,
    JobStatus,
)
from labeling.services.annotation_bulk import NewMask, do_create_annotations_bulk
from labeling.services.uploads import do_add_image
from labeling.tasks import run_evaluation, run_import
from tests.api_helpers import api_for
from tests.conftest import Personas, drain_queue, image_bytes, image_row

pytestmark = pytest.mark.django_db(transaction=True)

W, H = 64, 48
CLICKS = 3  # the click budget here: each click is a full-size decoder pass on a CPU


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny_sam(tmp_path_factory.mktemp("models") / "tiny-sam"))


def box(x: int, y: int, w: int, h: int) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y : y + h, x : x + w] = True
    return mask


BOXES = [(4, 4, 20, 16), (30, 20, 24, 20), (10, 26, 14, 14)]


@pytest.fixture
def labeled(personas: Personas, tiny_sam: str, settings: Any) -> list[Image]:
    """Two images with approved masks in two categories, plus a draft (never used)."""
    settings.ANYMASK_EVALUATION_MAX_CLICKS = CLICKS
    for queue in (settings.CELERY_QUEUE_DEFAULT, settings.CELERY_QUEUE_EMBEDDINGS):
        drain_queue(queue)
    project = personas.project
    project.model_spec = tiny_sam
    project.save()
    car = Category.objects.create(project=project, name="car")
    tree = Category.objects.create(project=project, name="tree", order=1)
    images = [
        do_add_image(project, personas.owner, io.BytesIO(image_bytes(color=c)), name)
        for c, name in (((200, 30, 30), "a.png"), ((30, 200, 90), "b.png"))
    ]
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)  # the job computes what it needs
    approved = [
        NewMask(images[0].pk, rle_encode(box(*BOXES[0])), car.pk),
        NewMask(images[0].pk, rle_encode(box(*BOXES[1])), tree.pk),
        NewMask(images[1].pk, rle_encode(box(*BOXES[2])), car.pk),
    ]
    do_create_annotations_bulk(
        project.pk, approved, personas.owner, source="manual", status=AnnotationStatus.APPROVED
    )
    do_create_annotations_bulk(
        project.pk,
        [NewMask(images[1].pk, rle_encode(box(0, 0, 8, 8)), car.pk)],
        personas.owner,
        source="manual",
        status=AnnotationStatus.DRAFT,
    )
    return images


def run_queued(settings: Any, outcome: str = "done") -> EvaluationRun:
    queued = drain_queue(settings.CELERY_QUEUE_DEFAULT)
    assert [name for name, _ in queued] == ["labeling.tasks.run_evaluation"]
    assert run_evaluation(*queued[0][1]) == outcome
    return EvaluationRun.objects.get(pk=queued[0][1][0])


def start(personas: Personas, who: str = "owner", **form: str) -> Any:
    data = {"version": "base", "masks": "approved", "split": "all", **form}
    return personas.client(who).post(f"/projects/{personas.project.pk}/quality/", data)


def expected_curves(project: Any, images: list[Image], spec: str) -> list[list[float]]:
    """The engine's single-object simulator on each approved mask, by id."""
    model = load_model(spec)
    curves = []
    for ann in Annotation.objects.filter(
        image__project=project, status=AnnotationStatus.APPROVED
    ).order_by("pk"):
        image = Image.objects.get(pk=ann.image_id)
        embedding = embedding_store.read_or_compute(model, image)
        curves.append(simulate_instance(model, embedding, rle_decode(ann.rle), CLICKS))
    return curves


def test_an_admin_runs_an_evaluation_and_gets_the_protocols_figures(
    personas: Personas, labeled: list[Image], settings: Any, tiny_sam: str
) -> None:
    response = start(personas)
    assert response.status_code == 302
    run = run_queued(settings)
    assert run.status == JobStatus.DONE
    assert (run.done, run.total) == (3, 3)
    assert run.version is None and run.spec == tiny_sam
    # The batched job gives what the engine's one-object simulator gives, mask by mask.
    wanted = summarize(expected_curves(personas.project, labeled, tiny_sam), CLICKS)
    for key in ("instances", "noc85", "noc90", "nof85", "nof90"):
        assert run.metrics[key] == wanted[key], key
    for key in ("miou1", "miou3", "miou5"):
        assert run.metrics[key] == pytest.approx(wanted[key], abs=2e-3), key
    assert run.max_clicks == CLICKS and len(run.metrics["mean_iou_per_click"]) == CLICKS
    assert run.per_category["car"]["instances"] == 2
    assert run.per_category["tree"]["instances"] == 1
    assert run.clicks_per_second and run.clicks_per_second > 0
    # Worst instances first, each linking to its mask on the labeling page.
    assert len(run.worst) == 3
    keys = [(-w["noc90"], w["iou5"]) for w in run.worst]
    assert keys == sorted(keys)
    page = personas.client("owner").get(f"/projects/{personas.project.pk}/quality/?run={run.pk}")
    body = page.content.decode()
    first = run.worst[0]
    label = f"/projects/{personas.project.pk}/images/{first['image']}/label/"
    link = f"{label}?annotation={first['annotation']}"
    assert link in body
    assert personas.client("owner").get(link).status_code == 200
    assert 'data-metric="noc90"' in body and str(run.metrics["noc90"]) in body


def test_held_out_split_is_a_stable_fifth_of_the_images(personas: Personas) -> None:
    fraction = sum(is_holdout_ids(7, i) for i in range(1, 5001)) / 5000
    assert 0.18 < fraction < 0.22
    assert [is_holdout_ids(7, i) for i in range(1, 50)] == [
        is_holdout_ids(7, i) for i in range(1, 50)
    ]
    # Another project holds out other images: the hash includes the project.
    assert [is_holdout_ids(7, i) for i in range(1, 200)] != [
        is_holdout_ids(8, i) for i in range(1, 200)
    ]
    rows = [image_row(personas.project, i) for i in range(60)]
    chosen = set(Image.objects.filter(holdout_q(personas.project)).values_list("pk", flat=True))
    assert chosen == {row.pk for row in rows if is_holdout(row)}
    assert 0 < len(chosen) < 60


def test_a_holdout_run_only_judges_held_out_images(
    personas: Personas, labeled: list[Image], settings: Any
) -> None:
    held = [img for img in labeled if is_holdout(img)]
    expected = Annotation.objects.filter(image__in=held, status=AnnotationStatus.APPROVED).count()
    start(personas, split="holdout")
    # Which of two images is held out depends on their ids: either way, only they count.
    run = run_queued(settings, outcome="done" if expected else "failed")
    assert run.total == expected
    if expected:
        assert run.metrics["instances"] == expected
    else:
        assert "nothing to evaluate" in run.error


def test_a_run_with_no_matching_masks_fails_with_a_reason(
    personas: Personas, labeled: list[Image], settings: Any
) -> None:
    start(personas, masks="ground_truth")  # no ground-truth set imported
    run = run_queued(settings, outcome="failed")
    assert run.error == "No imported ground-truth set on all images: nothing to evaluate."
    page = personas.client("owner").get(f"/projects/{personas.project.pk}/quality/")
    assert run.error in page.content.decode()


def test_limit_and_statuses_choose_the_masks(
    personas: Personas, labeled: list[Image], settings: Any
) -> None:
    start(personas, limit="2")
    assert run_queued(settings).metrics["instances"] == 2
    Annotation.objects.filter(status=AnnotationStatus.DRAFT).update(
        status=AnnotationStatus.SUBMITTED
    )
    start(personas, masks="submitted")
    assert run_queued(settings).metrics["instances"] == 4


def test_a_version_is_evaluated_with_its_own_decoder(
    personas: Personas, labeled: list[Image], settings: Any, tiny_sam: str
) -> None:
    base = load_model(tiny_sam)
    state = decoder_state(base)
    # A "tuned" decoder: the mask head's output weights negated, so its masks change.
    for name, tensor in state.items():
        if "output_hypernetworks_mlps" in name and name.endswith("weight"):
            state[name] = tensor * -1.0
    name = default_storage.save(
        "model_versions/test.safetensors",
        ContentFile(decoder_to_bytes(state, base.spec, base.family)),
    )
    version = ModelVersion.objects.create(
        project=personas.project, number=1, base_spec=tiny_sam, decoder_file=name
    )
    start(personas)
    base_run = run_queued(settings)
    start(personas, version="1")
    tuned_run = run_queued(settings)
    assert tuned_run.version == version
    assert tuned_run.metrics["mean_iou_per_click"] != base_run.metrics["mean_iou_per_click"]
    # Side by side: both runs' figures and B - A.
    page = personas.client("reviewer").get(
        f"/projects/{personas.project.pk}/quality/?a={base_run.pk}&b={tuned_run.pk}"
    )
    body = page.content.decode()
    assert page.status_code == 200 and 'id="comparison"' in body
    delta = round(tuned_run.metrics["miou5"] - base_run.metrics["miou5"], 4)
    assert f"{'+' if delta > 0 else ''}{delta}" in body
    assert "v1 (" in body and "base (" in body


def test_unknown_version_and_bad_options_start_nothing(
    personas: Personas, labeled: list[Image], settings: Any
) -> None:
    for form in ({"version": "9"}, {"masks": "everything"}, {"limit": "0"}, {"split": "x"}):
        response = start(personas, **form)
        assert response.status_code == 302
    assert EvaluationRun.objects.count() == 0
    assert drain_queue(settings.CELERY_QUEUE_DEFAULT) == []


def test_one_run_at_a_time_and_a_canceled_queued_run_never_runs(
    personas: Personas, labeled: list[Image], settings: Any
) -> None:
    start(personas)
    start(personas)  # refused: one is queued
    assert EvaluationRun.objects.count() == 1
    run = EvaluationRun.objects.get()
    owner = personas.client("owner")
    response = owner.post(f"/projects/{personas.project.pk}/quality/{run.pk}/cancel")
    assert response.status_code == 302
    assert run_queued(settings, outcome="not queued").status == JobStatus.CANCELED


def test_a_ground_truth_import_is_judged_apart_from_the_labels(
    personas: Personas, labeled: list[Image], settings: Any
) -> None:
    drain_queue(settings.CELERY_QUEUE_DEFAULT)
    data = {
        "images": [{"id": 1, "file_name": "a.png", "width": W, "height": H}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": rle_encode(box(8, 8, 30, 30)),
            }
        ],
    }
    file = io.BytesIO(json.dumps(data).encode())
    file.name = "gt.json"
    response = personas.client("owner").post(
        f"/projects/{personas.project.pk}/imports/", {"file": file, "ground_truth": "on"}
    )
    assert response.status_code == 302
    queued = drain_queue(settings.CELERY_QUEUE_DEFAULT)
    run_import(*queued[0][1])
    [gt] = Annotation.objects.filter(ground_truth=True)
    assert gt.status == AnnotationStatus.APPROVED and gt.source == AnnotationSource.IMPORT
    start(personas, masks="ground_truth")
    run = run_queued(settings)
    assert run.metrics["instances"] == 1 and run.worst[0]["annotation"] == gt.pk
    start(personas)  # approved labels: the set stays out
    assert run_queued(settings).metrics["instances"] == 3


def test_the_command_evaluates_and_prints_one_json_line(
    personas: Personas, labeled: list[Image], capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("evaluate", "--project", str(personas.project.pk), "--split", "all")
    line = json.loads(capsys.readouterr().out.strip())
    run = EvaluationRun.objects.get(pk=line["run"])
    assert run.status == JobStatus.DONE
    assert line["instances"] == 3
    for key in ("noc85", "noc90", "nof85", "nof90", "miou1", "miou3", "miou5"):
        assert line[key] == run.metrics[key]
    with pytest.raises(Exception, match="no model version 4"):
        call_command("evaluate", "--project", str(personas.project.pk), "--version", "4")


def test_who_may_see_and_start_evaluations(
    personas: Personas, labeled: list[Image], settings: Any
) -> None:
    page = f"/projects/{personas.project.pk}/quality/"
    assert personas.client("owner").get(page).status_code == 200
    reviewer = personas.client("reviewer").get(page)
    assert reviewer.status_code == 200 and "evaluate-form" not in reviewer.content.decode()
    assert (
        "Model quality"
        in personas.client("reviewer")
        .get(f"/projects/{personas.project.pk}/dashboard/")
        .content.decode()
    )
    assert personas.client("annotator").get(page).status_code == 403
    assert personas.client("outsider").get(page).status_code == 404
    assert personas.client("annotator").get(page + "status.json").status_code == 403
    for who in ("reviewer", "annotator"):
        assert start(personas, who).status_code == 403
    assert start(personas, "outsider").status_code == 404
    assert EvaluationRun.objects.count() == 0


def test_the_api_starts_lists_and_gets_runs_with_the_same_checks(
    personas: Personas, labeled: list[Image], settings: Any
) -> None:
    base = f"/projects/{personas.project.pk}/evaluations"
    owner, reviewer = api_for(personas.owner), api_for(personas.reviewer)
    assert api_for(personas.annotator).get(base).status_code == 403
    assert api_for(personas.outsider).get(base).status_code == 404
    assert reviewer.call("POST", base, {"split": "all"}).status_code == 403
    assert owner.call("POST", base, {"split": "all", "limit": 0}).status_code in (400, 422)
    assert owner.call("POST", base, {"version": 3}).status_code == 400
    started = owner.call("POST", base, {"split": "all"})
    assert started.status_code == 202 and started.json()["status"] == "queued"
    run = run_queued(settings)
    listed = reviewer.get(base).json()
    assert [r["id"] for r in listed] == [run.pk]
    detail = reviewer.get(f"{base}/{run.pk}").json()
    assert detail["status"] == "done" and detail["metrics"]["instances"] == 3
    assert detail["worst"][0]["url"].endswith(f"?annotation={detail['worst'][0]['annotation']}")
    assert api_for(personas.annotator).get(f"{base}/{run.pk}").status_code == 403
    # A second run, canceled through the API before a worker takes it.
    queued = owner.call("POST", base, {"split": "all"}).json()
    assert reviewer.call("POST", f"{base}/{queued['id']}/cancel").status_code == 403
    canceled = owner.call("POST", f"{base}/{queued['id']}/cancel")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert owner.call("POST", f"{base}/{queued['id']}/cancel").status_code == 400
    assert run_queued(settings, outcome="not queued").status == JobStatus.CANCELED
