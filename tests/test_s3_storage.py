"""Object storage: the whole file life cycle on a real S3 server (tests/own_s3.py).

Uploads, thumbnails, display copies, embeddings (by a real worker process, told the
bucket through the same ANYMASK_S3_* variables as production), exports, imports and
their deletion, with Django's default storage on the app's S3 backend. Files reach a
browser only through the views that check access; the bucket itself refuses anyone
without the keys, and the pages never name it.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image as PILImage

from inference import Prompt, load_model
from inference.masks import rle_encode
from inference.testing import save_tiny_sam
from labeling import embedding_store
from labeling.models import Annotation, Category, CocoImport, Export, Image
from labeling.services.annotations import do_create_annotation
from labeling.storage import local_copy, open_stream
from labeling.tasks import run_export, run_import
from tests.api_helpers import api_for
from tests.conftest import Personas, drain_queue, image_bytes
from tests.live_server import AsgiServer
from tests.own_s3 import Bucket
from tests.worker_process import Worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def picture(seed: int, size: tuple[int, int] = (96, 64), fmt: str = "PNG") -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()


def upload(client: Client, project_id: int, name: str, data: bytes) -> dict[str, Any]:
    handle = io.BytesIO(data)
    handle.name = name
    response = client.post(f"/projects/{project_id}/images/upload", {"files": [handle]})
    assert response.status_code == 200, response.content
    [result] = response.json()["results"]
    assert result["status"] == "accepted", result
    return dict(result["image"])


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def refused_without_keys(bucket: Bucket, key: str) -> int:
    try:
        urllib.request.urlopen(bucket.public_url(key), timeout=10)
    except urllib.error.HTTPError as error:
        return error.code
    raise AssertionError(f"{key} was readable from the bucket without credentials")


@pytest.fixture
def queues(settings: Any) -> Iterator[None]:
    for queue in (settings.CELERY_QUEUE_DEFAULT, settings.CELERY_QUEUE_EMBEDDINGS):
        drain_queue(queue)
    yield
    for queue in (settings.CELERY_QUEUE_DEFAULT, settings.CELERY_QUEUE_EMBEDDINGS):
        drain_queue(queue)


def test_an_upload_is_stored_in_the_bucket_and_served_only_to_members(
    personas: Personas, s3_storage: Bucket, settings: Any, queues: None
) -> None:
    data = picture(1)
    image = upload(personas.client("owner"), personas.project.pk, "street.png", data)
    row = Image.objects.get(pk=image["id"])
    prefix = f"projects/{personas.project.pk}/"
    assert s3_storage.listed(prefix) == sorted(
        [f"{prefix}images/{row.sha256}.png", f"{prefix}thumbnails/{row.sha256}.jpg"]
    )
    assert s3_storage.read(str(row.file.name)) == data
    assert not Path(settings.MEDIA_ROOT).exists()  # nothing went to the filesystem

    base = f"/projects/{personas.project.pk}/images/{row.pk}"
    served = personas.client("annotator").get(f"{base}/file")
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert served["Content-Length"] == str(len(data)) and body(served) == data
    assert served["Cache-Control"] == "private, max-age=86400"
    thumbnail = personas.client("reviewer").get(image["thumbnail_url"])
    with PILImage.open(io.BytesIO(body(thumbnail))) as shown:
        assert shown.format == "JPEG" and shown.size == (96, 64)
    for path in (f"{base}/file", f"{base}/thumbnail", f"{base}/display"):
        assert personas.client("outsider").get(path).status_code == 404
        assert Client().get(path).status_code == 302  # to the login page
    # The bucket refuses anyone without the keys, and no page hands out a link to it.
    assert refused_without_keys(s3_storage, str(row.file.name)) == 403
    assert refused_without_keys(s3_storage, str(row.thumbnail.name)) == 403
    page = personas.client("owner").get(f"/projects/{personas.project.pk}/").content.decode()
    status = personas.client("owner").get(f"/projects/{personas.project.pk}/status.json")
    for text in (page, status.content.decode(), json.dumps(image)):
        assert s3_storage.server.endpoint not in text and s3_storage.name not in text
    with pytest.raises(NotImplementedError):
        default_storage.url(row.file.name)


def test_a_display_copy_is_converted_once_into_the_bucket(
    personas: Personas, s3_storage: Bucket, queues: None
) -> None:
    image = upload(
        personas.client("owner"), personas.project.pk, "scan.tif", picture(2, fmt="TIFF")
    )
    row = Image.objects.get(pk=image["id"])
    url = f"/projects/{personas.project.pk}/images/{row.pk}/display"
    first = personas.client("annotator").get(url)
    assert first.status_code == 200 and first["Content-Type"] == "image/png"
    key = f"projects/{personas.project.pk}/display/{row.sha256}.png"
    assert key in s3_storage.listed()
    shown = body(first)
    assert s3_storage.read(key) == shown
    with PILImage.open(io.BytesIO(shown)) as png:
        assert png.size == (96, 64)
    assert body(personas.client("owner").get(url)) == shown


def test_deleting_images_and_projects_removes_their_objects(
    personas: Personas, s3_storage: Bucket, queues: None
) -> None:
    client = personas.client("owner")
    first = upload(client, personas.project.pk, "a.png", picture(3))
    upload(client, personas.project.pk, "b.png", picture(4))
    prefix = f"projects/{personas.project.pk}/"
    assert len(s3_storage.listed(prefix)) == 4
    Image.objects.filter(pk=first["id"]).delete()
    assert len(s3_storage.listed(prefix)) == 2
    personas.project.delete()
    assert s3_storage.listed(prefix) == []


def test_a_zip_export_is_written_to_the_bucket_and_downloaded_by_admins_only(
    personas: Personas, s3_storage: Bucket, settings: Any, queues: None
) -> None:
    owner = personas.client("owner")
    data = picture(5, (64, 48))
    image = Image.objects.get(pk=upload(owner, personas.project.pk, "a.png", data)["id"])
    car = Category.objects.create(project=personas.project, name="car")
    mask = np.zeros((48, 64), bool)
    mask[10:20, 5:25] = True
    do_create_annotation(
        image, personas.owner, rle=rle_encode(mask), source="manual", category_id=car.pk,
        status="approved",
    )  # fmt: skip
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)
    form = {"statuses": ["approved"], "segmentation": "rle", "with_images": "on"}
    assert owner.post(f"/projects/{personas.project.pk}/exports/", form).status_code == 302
    [(_, args)] = drain_queue(settings.CELERY_QUEUE_DEFAULT)
    assert run_export(*args) == "done"
    export = Export.objects.get(pk=args[0])
    assert export.file in s3_storage.listed(f"exports/{personas.project.pk}/")
    assert refused_without_keys(s3_storage, export.file) == 403

    url = f"/projects/{personas.project.pk}/exports/{export.pk}/download"
    response = owner.get(url)
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    assert response["Content-Length"] == str(export.byte_size)
    archive = zipfile.ZipFile(io.BytesIO(body(response)))
    assert archive.read("images/a.png") == data
    assert [a["image_id"] for a in json.loads(archive.read("annotations.json"))["annotations"]] == [
        image.pk
    ]
    assert personas.client("annotator").get(url).status_code == 403
    assert personas.client("outsider").get(url).status_code == 404
    # The API's download streams the same object, after the same check.
    path = f"/projects/{personas.project.pk}/exports/{export.pk}/download"
    api = api_for(personas.owner).get(path)
    assert api.status_code == 200 and body(api) == body(owner.get(url))
    assert api_for(personas.outsider).get(path).status_code == 404

    deleted = owner.post(f"/projects/{personas.project.pk}/exports/{export.pk}/delete")
    assert deleted.status_code == 302
    assert s3_storage.listed(f"exports/{personas.project.pk}/") == []


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny_sam(tmp_path_factory.mktemp("models") / "tiny-sam"))


def test_an_import_reads_its_upload_from_the_bucket_and_removes_it(
    personas: Personas, s3_storage: Bucket, settings: Any, queues: None, tiny_sam: str
) -> None:
    personas.project.model_spec = tiny_sam  # a bbox-only mask is decoded by SAM
    personas.project.save()
    owner = personas.client("owner")
    image = Image.objects.get(
        pk=upload(owner, personas.project.pk, "a.png", image_bytes(size=(64, 48)))["id"]
    )
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)  # the import computes what it needs
    mask = np.zeros((48, 64), bool)
    mask[5:15, 5:15] = True
    rle = rle_encode(mask)
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": rle, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [30, 20, 10, 10], "iscrowd": 0},
        ],
    }
    file = io.BytesIO(json.dumps(coco).encode())
    file.name = "coco.json"
    form = {"file": file, "create_categories": "on"}
    assert owner.post(f"/projects/{personas.project.pk}/imports/", form).status_code == 302
    [(_, args)] = drain_queue(settings.CELERY_QUEUE_DEFAULT)
    row = CocoImport.objects.get(pk=args[0])
    assert s3_storage.listed("imports/") == [row.file]
    run_import(*args)
    row.refresh_from_db()
    assert row.status == "done" and row.imported == 2, row.errors
    assert Annotation.objects.filter(image=image).count() == 2
    assert s3_storage.listed("imports/") == []  # the spent upload is gone
    # The bbox-only mask needed the image's embedding: it is in the bucket now.
    key = embedding_store.storage_key(image.sha256, tiny_sam)
    assert key in s3_storage.listed("embeddings/")


@pytest.fixture
def s3_worker(
    django_db_setup: None, s3_storage: Bucket, tmp_path: Path, settings: Any
) -> Iterator[Worker]:
    """A real worker process configured for the bucket through its environment."""
    drain_queue(settings.CELERY_QUEUE_EMBEDDINGS)
    worker = Worker(
        tmp_path / "worker-media",
        tmp_path / "worker.log",
        env=s3_storage.server.env(s3_storage.name),
    )
    worker.start()
    yield worker
    worker.stop()


def test_a_worker_writes_the_embedding_to_the_bucket_and_it_decodes(
    personas: Personas, s3_storage: Bucket, s3_worker: Worker, tiny_sam: str, tmp_path: Path
) -> None:
    personas.project.model_spec = tiny_sam
    personas.project.save()
    image = upload(personas.client("owner"), personas.project.pk, "a.png", picture(6, (80, 60)))
    row = Image.objects.get(pk=image["id"])

    def ready() -> bool:
        return Image.objects.get(pk=row.pk).embedding_status == "ready"

    wait_until(ready, "the embedding", s3_worker)
    key = embedding_store.storage_key(row.sha256, tiny_sam)
    assert key in s3_storage.listed("embeddings/")
    assert not (tmp_path / "worker-media").exists()  # the worker wrote only to the bucket
    embedding_store.clear_cache()
    model = load_model(tiny_sam)
    embedding = embedding_store.require(model, row.sha256)  # read back from the bucket
    assert embedding.original_size == (60, 80)
    candidates = model.decode(embedding, Prompt.click(40, 30))
    assert len(candidates) == 3 and candidates[0].rle["size"] == [60, 80]


def test_the_asgi_server_streams_files_from_the_bucket_to_members_only(
    personas: Personas, s3_storage: Bucket, tmp_path: Path, queues: None
) -> None:
    data = picture(7, (1200, 900))  # ~3 MB of noise: many blocks
    image = upload(personas.client("owner"), personas.project.pk, "big.png", data)
    env = s3_storage.server.env(s3_storage.name)
    server = AsgiServer(tmp_path / "server-media", tmp_path / "server.log", env=env)
    server.start()
    try:
        url = f"{server.url}/projects/{personas.project.pk}/images/{image['id']}/file"

        def fetch(who: str) -> tuple[int, dict[str, str], bytes]:
            """Status, headers (lowercased) and body for `who`'s session."""
            session = personas.client(who).cookies["sessionid"].value
            request = urllib.request.Request(url, headers={"Cookie": f"sessionid={session}"})
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    headers = {k.lower(): v for k, v in answer.headers.items()}
                    return answer.status, headers, answer.read()
            except urllib.error.HTTPError as error:
                return error.code, {}, b""

        status, headers, served = fetch("annotator")
        assert status == 200 and served == data and headers["content-length"] == str(len(data))
        assert fetch("outsider")[0] == 404
    finally:
        server.stop()
    # Streamed block by block: Django's fallback that reads a whole file into memory
    # first (and warns that it does) never ran.
    assert "must consume synchronous iterators" not in server.log_tail()
    assert not (tmp_path / "server-media").exists()


def test_streams_and_local_copies_read_objects(s3_storage: Bucket) -> None:
    name = default_storage.save("models/v2/config.json", io.BytesIO(b'{"v": 2}'))
    assert s3_storage.listed("models/") == ["models/v2/config.json"]
    with open_stream(name) as stream:
        assert stream.size == 8 and stream.read() == b'{"v": 2}'
    with local_copy(name) as path:
        assert path.read_bytes() == b'{"v": 2}'
    assert not path.exists()
    with pytest.raises(FileNotFoundError):
        open_stream("models/v2/missing.json")


def test_large_originals_are_judged_from_their_header_for_display(
    personas: Personas, s3_storage: Bucket, queues: None
) -> None:
    pixels = PILImage.open(io.BytesIO(picture(8, (1400, 1000))))
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotated 90°: the browser must get the turned pixels
    plain_out, rotated_out = io.BytesIO(), io.BytesIO()
    pixels.save(plain_out, format="JPEG", quality=95)
    pixels.save(rotated_out, format="JPEG", quality=95, exif=exif.tobytes())
    plain, rotated = plain_out.getvalue(), rotated_out.getvalue()
    assert len(plain) > 2**20 and len(rotated) > 2**20  # past the first MiB read
    owner = personas.client("owner")
    shown = upload(owner, personas.project.pk, "plain.jpg", plain)
    turned = upload(owner, personas.project.pk, "turned.jpg", rotated)
    base = f"/projects/{personas.project.pk}/images"

    as_is = owner.get(f"{base}/{shown['id']}/display")
    assert as_is["Content-Type"] == "image/jpeg" and body(as_is) == plain
    converted = owner.get(f"{base}/{turned['id']}/display")
    assert converted["Content-Type"] == "image/png"
    with PILImage.open(io.BytesIO(body(converted))) as png:
        assert png.size == (1000, 1400)
    assert len(s3_storage.listed(f"projects/{personas.project.pk}/display/")) == 1
