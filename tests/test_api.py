"""The JSON API doing its jobs: tokens, pagination, filters, masks from RLE or
polygons, versions and conflicts, uploads, image review, and a whole export."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from pycocotools.coco import COCO

from inference.masks import rle_decode, rle_encode
from labeling.api.throttle import budget_key
from labeling.jobs.progress import claim_queued
from labeling.models import (
    Annotation,
    AnnotationEvent,
    ApiToken,
    Category,
    Export,
    Image,
    LabelingStatus,
)
from labeling.services.annotations import do_create_annotation
from labeling.services.errors import ServiceError
from labeling.services.tokens import MAX_TOKENS_PER_USER, do_create_token
from labeling.tasks import run_export
from tests.api_helpers import api_for
from tests.conftest import Personas, drain_queue, image_bytes, image_row, zip_bytes
from tests.test_api_matrix import square_rle

# A 12x12 square with a 4x4 hole, as one COCO polygon: the outer ring, a zero-width
# bridge to the hole's ring and back (pycocotools fills it even-odd).
RING = [[1, 1, 13, 1, 13, 13, 1, 13, 1, 1, 5, 5, 5, 9, 9, 9, 9, 5, 5, 5]]


@pytest.fixture
def owner_api(personas: Personas) -> Any:
    return api_for(personas.owner)


def test_a_token_is_shown_once_and_stored_only_as_a_fingerprint(personas: Personas) -> None:
    page = personas.client("annotator")
    made = page.post("/account/tokens/", {"name": "nightly export"})
    assert made.status_code == 200
    assert "no-store" in made["Cache-Control"]
    token = made.context["new_token"]
    assert token.startswith("am_") and len(token) > 40
    row = ApiToken.objects.get(user=personas.annotator)
    assert token not in json.dumps(list(ApiToken.objects.values()), default=str)
    assert token.startswith(row.prefix)
    listed = page.get("/account/tokens/").content.decode()
    assert "nightly export" in listed and token not in listed

    api = api_for(None)
    api.headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/me").json() == {"username": "annie"}
    row.refresh_from_db()
    assert row.last_used_at is not None

    revoked = page.post(f"/account/tokens/{row.pk}/revoke")
    assert revoked.status_code == 302
    assert api.get("/me").status_code == 401


def test_a_token_lives_as_long_as_chosen(personas: Personas) -> None:
    page = personas.client("annotator")
    token = page.post("/account/tokens/", {"name": "month", "lifetime": "30"}).context["new_token"]
    row = ApiToken.objects.get(user=personas.annotator)
    assert row.expires_at is not None
    days = (row.expires_at - row.created_at).total_seconds() / 86400
    assert 29.99 < days < 30.01
    api = api_for(None)
    api.headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/me").status_code == 200
    # A month later (the row's expiry moved into the past): the token opens nothing.
    ApiToken.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api.get("/me").status_code == 401
    listed = page.get("/account/tokens/").content.decode()
    assert "expired " in listed

    forever = page.post("/account/tokens/", {"name": "ci", "lifetime": "never"})
    assert ApiToken.objects.get(name="ci").expires_at is None
    assert forever.context["new_token"] and "never" in forever.content.decode()
    assert page.post("/account/tokens/", {"name": "x", "lifetime": "7"}).status_code == 400
    assert not ApiToken.objects.filter(name="x").exists()


def test_a_token_owner_over_the_budget_gets_429_with_retry_after(
    personas: Personas, settings: Any
) -> None:
    settings.ANYMASK_API_RATE = "3/d"  # a day's window: it cannot turn during the test
    keys = [budget_key(u.pk, 86400, time.time()) for u in (personas.annotator, personas.owner)]
    cache.delete_many(keys)  # ids repeat between tests; start these budgets afresh
    try:
        annie = api_for(personas.annotator)
        assert [annie.get("/me").status_code for _ in range(3)] == [200, 200, 200]
        over = annie.get("/me")
        assert over.status_code == 429 and over.json() == {"detail": "Too many requests."}
        assert 0 < int(over["Retry-After"]) <= 86400
        assert api_for(personas.owner).get("/me").status_code == 200  # a budget of their own
        settings.ANYMASK_API_RATE = ""  # an operator can turn the limit off
        assert annie.get("/me").status_code == 200
    finally:
        cache.delete_many(keys)


@pytest.mark.django_db(transaction=True)  # the threads' connections must see the users
def test_concurrent_calls_share_one_exact_budget(personas: Personas, settings: Any) -> None:
    """Eight threads at once, twenty calls, a budget of twelve: exactly twelve pass."""
    settings.ANYMASK_API_RATE = "12/d"
    key = budget_key(personas.annotator.pk, 86400, time.time())
    cache.delete(key)
    barrier = threading.Barrier(8)

    def calls(count: int) -> list[int]:
        annie = api_for(personas.annotator)
        barrier.wait()
        try:
            return [annie.get("/me").status_code for _ in range(count)]
        finally:
            connection.close()

    try:
        with ThreadPoolExecutor(8) as pool:
            codes = [c for batch in pool.map(calls, [3, 3, 3, 3, 2, 2, 2, 2]) for c in batch]
    finally:
        cache.delete(key)
    assert sorted(codes) == [200] * 12 + [429] * 8


def test_the_token_limit_counts_only_live_tokens(personas: Personas) -> None:
    for index in range(MAX_TOKENS_PER_USER):
        do_create_token(personas.annotator, f"script {index}")
    with pytest.raises(ServiceError, match="already have 20 tokens"):
        do_create_token(personas.annotator, "one too many")
    ApiToken.objects.filter(name="script 0").update(expires_at=timezone.now())
    do_create_token(personas.annotator, "replacement")  # the expired one no longer counts


@pytest.mark.django_db(transaction=True)
def test_tokens_made_before_lifetimes_get_the_default_one() -> None:
    executor = MigrationExecutor(connection)
    before, after = [("labeling", "0011_job_cancel")], [("labeling", "0012_api_token_expiry")]
    executor.migrate(before)
    old_apps = executor.loader.project_state(before).apps
    user = old_apps.get_model("auth", "User").objects.create(username="early")
    old_apps.get_model("labeling", "ApiToken").objects.create(
        user_id=user.pk, name="old script", key_hash="0" * 64, prefix="am_old"
    )
    executor = MigrationExecutor(connection)  # the loader must see the new state
    executor.migrate(after)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    token = ApiToken.objects.get(name="old script")
    assert token.expires_at is not None
    days = (token.expires_at - timezone.now()).total_seconds() / 86400
    assert 89.9 < days <= 90


def test_it_refuses_a_nameless_token_and_someone_elses_revoke(personas: Personas) -> None:
    page = personas.client("annotator")
    assert page.post("/account/tokens/", {"name": "  "}).status_code == 400
    page.post("/account/tokens/", {"name": "mine"})
    theirs = ApiToken.objects.get(user=personas.annotator)
    personas.client("outsider").post(f"/account/tokens/{theirs.pk}/revoke")
    assert ApiToken.objects.filter(pk=theirs.pk).exists()


def test_lists_are_paginated_with_a_count(personas: Personas, owner_api: Any) -> None:
    for index in range(7):
        image_row(personas.project, index)
    path = f"/projects/{personas.project.pk}/images"
    first = owner_api.get(path, limit=3).json()
    assert first["count"] == 7
    assert [i["original_name"] for i in first["items"]] == ["0.png", "1.png", "2.png"]
    last = owner_api.get(path, limit=3, offset=6).json()
    assert [i["original_name"] for i in last["items"]] == ["6.png"]
    assert owner_api.get(path, limit=501).status_code == 400  # the page size is capped
    assert owner_api.get(path, offset=-1).status_code == 400
    everything = owner_api.get(path).json()
    assert len(everything["items"]) == 7


def test_filters_and_sorts_are_allow_listed(personas: Personas, owner_api: Any) -> None:
    image = image_row(personas.project, 1, size=(20, 20))
    for side, status in ((3, "draft"), (6, "approved"), (4, "approved")):
        mask = np.zeros((20, 20), dtype=bool)
        mask[:side, :side] = True
        do_create_annotation(
            image, personas.annotator, rle=rle_encode(mask), source="sam", status=status
        )
    path = f"/projects/{personas.project.pk}/annotations"
    approved = owner_api.get(path, status="approved", sort="-area").json()
    assert [a["area"] for a in approved["items"]] == [36, 16]
    assert owner_api.get(path, created_by="annie").json()["count"] == 3
    assert owner_api.get(path, created_by="owner").json()["count"] == 0

    snooping = owner_api.get(path, created_by__password="pbkdf2")
    assert snooping.status_code == 400
    assert "created_by__password" in snooping.json()["detail"]
    assert owner_api.get(path, sort="created_by__password").status_code == 422
    assert owner_api.get(path, status="everything").status_code == 422
    images = f"/projects/{personas.project.pk}/images"
    assert owner_api.get(images, uploaded_by__password="x").status_code == 400


def test_it_creates_a_mask_from_polygons_with_the_hole_kept(
    personas: Personas, owner_api: Any
) -> None:
    image = image_row(personas.project, 1, size=(16, 16))
    category = Category.objects.create(project=personas.project, name="donut")
    made = owner_api.call(
        "POST",
        f"/projects/{personas.project.pk}/annotations",
        {"image": image.pk, "polygons": RING, "category": category.pk},
    )
    assert made.status_code == 201, made.content
    body = made.json()
    expected = np.zeros((16, 16), dtype=bool)
    expected[1:13, 1:13] = True
    expected[5:9, 5:9] = False  # the hole
    assert np.array_equal(rle_decode(body["rle"]), expected)
    assert body["area"] == 144 - 16 and body["bbox"] == [1, 1, 12, 12]
    assert (body["source"], body["status"], body["created_by"]) == ("api", "draft", "owner")
    assert Image.objects.get(pk=image.pk).labeling_status == LabelingStatus.IN_PROGRESS
    history = AnnotationEvent.objects.get(annotation_id=body["id"])
    assert history.actor == personas.owner


def test_it_creates_a_mask_from_uncompressed_rle(personas: Personas, owner_api: Any) -> None:
    image = image_row(personas.project, 1, size=(4, 3))
    # Column-major runs on a 3-high, 4-wide image: 3 off, 6 on, 3 off.
    rle = {"size": [3, 4], "counts": [3, 6, 3]}
    made = owner_api.call(
        "POST", f"/projects/{personas.project.pk}/annotations", {"image": image.pk, "rle": rle}
    )
    assert made.status_code == 201, made.content
    mask = rle_decode(made.json()["rle"])
    assert mask.sum() == 6 and mask[:, 1:3].all()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"rle": {"size": [5, 5], "counts": "00"}}, 400, "rle"),  # wrong size
        ({"rle": {"size": [10, 10], "counts": [200]}}, 400, "rle"),  # runs past the end
        ({"polygons": [[1, 1, 2, 2, 1e9, 1e9]]}, 400, "polygons"),  # far outside
        ({"rle": {"size": [10, 10], "counts": [100]}, "polygons": RING}, 400, "rle"),
        ({}, 400, "rle"),
        ({"rle": {"size": [10, 10], "counts": [100]}, "categroy": 3}, 422, None),
        ({"polygons": [[1, 2, 3]]}, 422, None),  # a ring needs three points
    ],
)
def test_it_refuses_bad_masks_with_a_reason(
    personas: Personas, owner_api: Any, body: dict[str, Any], status: int, field: str | None
) -> None:
    image = image_row(personas.project, 1)
    response = owner_api.call(
        "POST", f"/projects/{personas.project.pk}/annotations", {"image": image.pk, **body}
    )
    assert response.status_code == status, response.content
    if field is not None:
        assert response.json()["field"] == field
    assert not Annotation.objects.exists()


def test_a_stale_version_gets_409_with_the_current_mask(personas: Personas, owner_api: Any) -> None:
    image = image_row(personas.project, 1)
    mask = do_create_annotation(image, personas.owner, rle=square_rle(), source="sam")
    path = f"/projects/{personas.project.pk}/annotations/{mask.pk}"
    category = Category.objects.create(project=personas.project, name="car")
    annie = api_for(personas.annotator)
    first = annie.call("PATCH", path, {"version": 1, "polygons": [[0, 0, 10, 0, 10, 10, 0, 10]]})
    assert first.status_code == 200 and first.json()["version"] == 2
    assert first.json()["area"] == 100
    stale = owner_api.call("PATCH", path, {"version": 1, "category": category.pk})
    assert stale.status_code == 409
    assert stale.json()["current"]["version"] == 2
    assert stale.json()["current"]["updated_by"] == "annie"
    assert Annotation.objects.get(pk=mask.pk).category is None  # nothing overwritten
    assert owner_api.call("DELETE", path, {"version": 1}).status_code == 409
    assert owner_api.call("DELETE", path, {"version": 2}).status_code == 204
    assert owner_api.call("DELETE", path, {"version": 2}).status_code == 404


def test_a_reviewer_comments_on_one_mask_and_the_annotator_reads_it(
    personas: Personas,
) -> None:
    image = image_row(personas.project, 1)
    mask = do_create_annotation(
        image, personas.annotator, rle=square_rle(), source="sam", status="submitted"
    )
    path = f"/projects/{personas.project.pk}/annotations/{mask.pk}"
    rita = api_for(personas.reviewer)
    decided = rita.call(
        "PATCH", path, {"version": 1, "status": "rejected", "review_comment": " Misses the wheel "}
    )
    assert decided.status_code == 200, decided.content
    seen = api_for(personas.annotator).get(f"/projects/{personas.project.pk}/annotations")
    [row] = seen.json()["items"]
    assert (row["status"], row["review_comment"]) == ("rejected", "Misses the wheel")
    too_long = rita.call("PATCH", path, {"version": 2, "review_comment": "x" * 2001})
    assert too_long.status_code == 422
    # An annotator may not write the reviewer's comment.
    forged = api_for(personas.annotator).call("PATCH", path, {"version": 2, "review_comment": ""})
    assert forged.status_code == 403


def test_it_uploads_images_and_reports_each_file(personas: Personas, owner_api: Any) -> None:
    archive = zip_bytes({"../evil.png": image_bytes(color=(9, 9, 9)), "ok.png": image_bytes()})
    response = owner_api.upload(
        f"/projects/{personas.project.pk}/images",
        {"a.png": image_bytes(color=(1, 1, 1)), "b.zip": archive, "c.png": b"not an image"},
    )
    assert response.status_code == 200, response.content
    results = {r["name"]: r for r in response.json()["results"]}
    assert results["a.png"]["status"] == "accepted"
    assert results["a.png"]["image"]["width"] == 64
    assert results["c.png"]["status"] == "refused" and results["c.png"]["reason"]
    assert any(r["status"] == "refused" and "evil" in n for n, r in results.items())
    assert set(Image.objects.values_list("original_name", flat=True)) == {"a.png", "ok.png"}


def test_an_annotator_submits_and_a_reviewer_rejects_with_a_comment(personas: Personas) -> None:
    image = image_row(personas.project, 1)
    do_create_annotation(image, personas.annotator, rle=square_rle(), source="sam")
    base = f"/projects/{personas.project.pk}/images/{image.pk}"
    submitted = api_for(personas.annotator).call("POST", f"{base}/submit")
    assert submitted.json()["labeling_status"] == "submitted"
    rita = api_for(personas.reviewer)
    silent = rita.call("POST", f"{base}/review", {"decision": "reject"})
    assert silent.status_code == 400 and silent.json()["field"] == "comment"
    rejected = rita.call("POST", f"{base}/review", {"decision": "reject", "comment": "Redo"})
    assert rejected.status_code == 200
    body = rejected.json()
    assert (body["labeling_status"], body["review_comment"]) == ("rejected", "Redo")
    assert (body["reviewed_by"], body["claimed_by"]) == ("rita", "annie")
    assert Annotation.objects.get().status == "rejected"


@pytest.fixture
def default_queue(settings: Any) -> Any:
    drain_queue(settings.CELERY_QUEUE_DEFAULT)
    yield settings.CELERY_QUEUE_DEFAULT
    drain_queue(settings.CELERY_QUEUE_DEFAULT)


@pytest.mark.django_db(transaction=True)  # the job is queued when the row commits
def test_an_export_is_started_polled_and_downloaded(
    personas: Personas, owner_api: Any, default_queue: str
) -> None:
    image = image_row(personas.project, 1)
    car = Category.objects.create(project=personas.project, name="car")
    kept = do_create_annotation(
        image, personas.owner, rle=square_rle(), source="sam", category_id=car.pk,
        status="approved",
    )  # fmt: skip
    do_create_annotation(
        image, personas.owner, rle=square_rle(side=2), source="sam", category_id=car.pk
    )
    base = f"/projects/{personas.project.pk}/exports"
    started = owner_api.call("POST", base, {"segmentation": "rle"})
    assert started.status_code == 202, started.content
    export = started.json()
    assert (export["status"], export["download_url"]) == ("queued", None)
    not_yet = owner_api.get(f"{base}/{export['id']}/download")
    assert not_yet.status_code == 404

    [(task, args)] = drain_queue(default_queue)
    assert task == "labeling.tasks.run_export" and run_export(*args) == "done"
    polled = owner_api.get(f"{base}/{export['id']}").json()
    assert polled["status"] == "done" and polled["annotations"] == 1
    assert owner_api.get(base).json()["count"] == 1
    download = owner_api.client.get(polled["download_url"], headers=owner_api.headers)
    assert download.status_code == 200
    data = b"".join(download.streaming_content)
    coco = COCO()
    coco.dataset = json.loads(data)
    coco.createIndex()
    [only] = coco.dataset["annotations"]
    assert np.array_equal(rle_decode(coco.annToRLE(only)), rle_decode(kept.rle))

    bad = owner_api.call("POST", base, {"statuses": ["approved", "shipped"]})
    assert bad.status_code == 422

    # Cleaning up: a running export can go (its worker then discards the result), and
    # a finished one goes with its file.
    running = owner_api.call("POST", base, {"segmentation": "rle"}).json()
    [(_, running_args)] = drain_queue(default_queue)
    assert claim_queued(Export, running_args[0])
    assert owner_api.call("DELETE", f"{base}/{running['id']}").status_code == 204
    assert not Export.objects.filter(pk=running["id"]).exists()
    stored = Export.objects.get(pk=export["id"]).file
    assert owner_api.call("DELETE", f"{base}/{export['id']}").status_code == 204
    assert owner_api.get(f"{base}/{export['id']}").status_code == 404
    assert not default_storage.exists(stored)


def test_the_openapi_schema_and_docs_are_served(client: Any) -> None:
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/projects/{project_id}/annotations" in paths
    assert schema.json()["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    assert client.get("/api/v1/docs").status_code == 200
