"""Upload rules, exercised through the real upload endpoint and storage."""

from __future__ import annotations

import io
import stat
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections
from django.db.models.signals import pre_save
from django.urls import reverse
from PIL import Image as PILImage

from labeling.imaging import ImageRefused
from labeling.models import Image
from labeling.services.uploads import do_add_image
from tests.conftest import Personas, drain_queue, image_bytes, zip_bytes


def send(personas: Personas, *files: tuple[str, bytes], who: str = "owner") -> Any:
    uploads = []
    for name, data in files:
        handle = io.BytesIO(data)
        handle.name = name
        uploads.append(handle)
    url = reverse("image-upload", args=[personas.project.pk])
    return personas.client(who).post(url, {"files": uploads})


def verdicts(response: Any) -> dict[str, tuple[str, str]]:
    assert response.status_code == 200, response.content
    return {r["name"]: (r["status"], r["reason"]) for r in response.json()["results"]}


def stored_files(settings: Any) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "BMP"])
def test_it_accepts_each_supported_format(personas: Personas, settings: Any, fmt: str) -> None:
    result = verdicts(send(personas, (f"photo.{fmt.lower()}", image_bytes(fmt, (120, 80)))))
    assert result == {f"photo.{fmt.lower()}": ("accepted", "")}
    image = Image.objects.get(project=personas.project)
    assert (image.width, image.height, image.format) == (120, 80, fmt)
    assert image.original_name == f"photo.{fmt.lower()}"
    assert image.byte_size == len(image_bytes(fmt, (120, 80)))
    with image.thumbnail.open("rb") as thumb, PILImage.open(thumb) as shown:
        assert shown.format == "JPEG" and shown.size[0] <= settings.ANYMASK_THUMBNAIL_SIZE


def test_it_refuses_a_decompression_bomb(personas: Personas, settings: Any) -> None:
    """A tiny file that declares 144 MP, above the default 100 MP limit."""
    bomb = io.BytesIO()
    PILImage.new("1", (12_000, 12_000)).save(bomb, format="PNG")
    assert len(bomb.getvalue()) < 1_000_000
    status, reason = verdicts(send(personas, ("bomb.png", bomb.getvalue())))["bomb.png"]
    assert status == "refused"
    assert "100 megapixels" in reason
    assert not Image.objects.exists() and stored_files(settings) == []


def test_it_checks_every_frame_for_size(personas: Personas, settings: Any) -> None:
    settings.ANYMASK_MAX_IMAGE_PIXELS = 10_000
    pages = io.BytesIO()
    small, huge = PILImage.new("RGB", (50, 50)), PILImage.new("RGB", (200, 200))
    small.save(pages, format="TIFF", save_all=True, append_images=[huge])
    status, reason = verdicts(send(personas, ("pages.tif", pages.getvalue())))["pages.tif"]
    assert status == "refused" and "200×200" in reason


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_it_refuses_truncated_files(personas: Personas, fmt: str) -> None:
    # 1600 px: bigger than a thumbnail, so JPEG takes the reduced-scale decode path.
    noisy = PILImage.effect_noise((1600, 1600), 64).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, format=fmt)
    truncated = out.getvalue()[: len(out.getvalue()) // 2]
    status, reason = verdicts(send(personas, ("cut.img", truncated)))["cut.img"]
    assert status == "refused" and "truncated or corrupt" in reason
    assert not Image.objects.exists()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("notes.jpg", b"these are not the pixels you are looking for" * 10),
        ("script.png", b"<script>alert(1)</script>"),
        ("anim.png", image_bytes("GIF")),  # a real image, but not a format we accept
        ("empty.jpg", b""),
    ],
)
def test_it_refuses_non_images_whatever_their_extension(
    personas: Personas, name: str, data: bytes
) -> None:
    status, reason = verdicts(send(personas, (name, data)))[name]
    assert status == "refused" and reason
    assert not Image.objects.exists()


def test_it_applies_exif_orientation_to_dimensions(personas: Personas) -> None:
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    data = image_bytes("JPEG", (60, 40), exif=exif.tobytes())
    verdicts(send(personas, ("rotated.jpg", data)))
    image = Image.objects.get()
    assert (image.width, image.height) == (40, 60)
    with image.thumbnail.open("rb") as thumb, PILImage.open(thumb) as shown:
        assert shown.size[1] > shown.size[0]  # the thumbnail is portrait too


def test_it_deduplicates_by_content_within_a_project(personas: Personas, settings: Any) -> None:
    data = image_bytes()
    verdicts(send(personas, ("first.png", data)))
    files_before = stored_files(settings)
    status, reason = verdicts(send(personas, ("second.png", data)))["second.png"]
    assert status == "refused" and "first.png" in reason
    assert Image.objects.count() == 1 and stored_files(settings) == files_before


def test_same_image_may_live_in_two_projects(personas: Personas) -> None:
    from labeling.services.projects import do_create_project

    other = do_create_project(personas.owner, name="Other")
    data = image_bytes()
    verdicts(send(personas, ("a.png", data)))
    url = reverse("image-upload", args=[other.pk])
    handle = io.BytesIO(data)
    handle.name = "a.png"
    response = personas.client("owner").post(url, {"files": [handle]})
    assert response.json()["results"][0]["status"] == "accepted"


def test_it_keeps_valid_files_and_reports_refused_ones_by_name(personas: Personas) -> None:
    result = verdicts(
        send(
            personas,
            ("good1.png", image_bytes(color=(1, 1, 1))),
            ("bad.jpg", b"nope"),
            ("good2.webp", image_bytes("WEBP", color=(2, 2, 2))),
        )
    )
    assert result["good1.png"][0] == result["good2.webp"][0] == "accepted"
    assert result["bad.jpg"][0] == "refused"
    assert sorted(Image.objects.values_list("original_name", flat=True)) == [
        "good1.png",
        "good2.webp",
    ]


def symlink_member(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def test_zip_expands_images_and_explains_everything_else(personas: Personas, settings: Any) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("shots/", b"")
        archive.writestr("shots/one.png", image_bytes(color=(10, 0, 0)))
        archive.writestr("shots/deeper/two.jpg", image_bytes("JPEG", color=(0, 10, 0)))
        archive.writestr("readme.txt", b"hello")
        archive.writestr("__MACOSX/shots/._one.png", b"junk")
        archive.writestr("../escape.png", image_bytes(color=(0, 0, 10)))
        archive.writestr("/etc/absolute.png", image_bytes(color=(0, 0, 11)))
        archive.writestr("C:/windows.png", image_bytes(color=(0, 0, 12)))
        archive.writestr(*symlink_member("link.png", "/etc/passwd"))
        archive.writestr("broken.png", b"\x89PNG\r\n\x1a\n broken")
    result = verdicts(send(personas, ("batch.zip", out.getvalue())))
    status = {name.split(" › ", 1)[1]: verdict[0] for name, verdict in result.items()}
    assert status == {
        "shots/": "ignored",
        "shots/one.png": "accepted",
        "shots/deeper/two.jpg": "accepted",
        "readme.txt": "ignored",
        "__MACOSX/shots/._one.png": "ignored",
        "../escape.png": "refused",
        "/etc/absolute.png": "refused",
        "C:/windows.png": "refused",
        "link.png": "refused",
        "broken.png": "refused",
    }
    assert "'..'" in result["batch.zip › ../escape.png"][1]
    assert "Symbolic links" in result["batch.zip › link.png"][1]
    # Stored under plain names, and nothing was written outside the media root.
    assert sorted(Image.objects.values_list("original_name", flat=True)) == ["one.png", "two.jpg"]
    media = Path(settings.MEDIA_ROOT).resolve()
    assert all(media in p.resolve().parents for p in stored_files(settings))
    assert not (media.parent / "escape.png").exists()


def test_zip_member_count_is_capped(personas: Personas, settings: Any) -> None:
    settings.ANYMASK_ZIP_MAX_MEMBERS = 2
    data = zip_bytes({f"{i}.png": image_bytes(color=(i, i, i)) for i in range(3)})
    status, reason = verdicts(send(personas, ("many.zip", data)))["many.zip"]
    assert status == "refused" and "3 entries" in reason
    assert not Image.objects.exists()


def test_zip_total_size_is_capped(personas: Personas, settings: Any) -> None:
    """A zip bomb: highly compressible members whose unpacked total is over the cap."""
    settings.ANYMASK_ZIP_MAX_TOTAL_BYTES = 1_000_000
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.png", b"\0" * 2_000_000)
    assert len(out.getvalue()) < 10_000
    status, reason = verdicts(send(personas, ("bomb.zip", out.getvalue())))["bomb.zip"]
    assert status == "refused" and "MiB" in reason


def test_a_zip_that_is_not_a_zip_is_refused(personas: Personas) -> None:
    status, _ = verdicts(send(personas, ("fake.zip", b"PK but not really")))["fake.zip"]
    assert status == "refused"


def test_it_refuses_an_oversized_request(personas: Personas, settings: Any) -> None:
    settings.ANYMASK_MAX_UPLOAD_BYTES = 1_000
    response = send(personas, ("big.png", image_bytes(size=(400, 400))))
    assert response.status_code == 413
    assert "limit" in response.json()["error"]
    assert not Image.objects.exists()


def test_it_asks_for_a_file_when_none_is_sent(personas: Personas) -> None:
    response = personas.client("owner").post(reverse("image-upload", args=[personas.project.pk]))
    assert response.status_code == 400
    assert "Choose at least one file" in response.json()["error"]


def test_a_storage_failure_leaves_no_orphan_file_or_row(personas: Personas, settings: Any) -> None:
    # Block the thumbnail directory with a plain file: the image file is written
    # first, then the thumbnail fails, and the upload must be rolled back whole.
    blocker = Path(settings.MEDIA_ROOT) / f"projects/{personas.project.pk}/thumbnails"
    blocker.parent.mkdir(parents=True)
    blocker.write_bytes(b"")
    result = verdicts(
        send(personas, ("a.png", image_bytes()), ("b.png", image_bytes(color=(0, 0, 1))))
    )
    assert result["a.png"][0] == result["b.png"][0] == "refused"
    assert "nothing of it was kept" in result["a.png"][1]
    assert not Image.objects.exists()
    assert stored_files(settings) == [blocker]


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_uploads_of_one_image_store_it_once(
    personas: Personas, settings: Any
) -> None:
    """Both uploads pass the duplicate check before either inserts its row."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers, so the two uploads cannot interleave")
    data = image_bytes()
    both_checked = threading.Barrier(2, timeout=20)

    def wait_for_the_other(sender: type[Image], instance: Image, **kwargs: Any) -> None:
        if instance.pk is None:
            both_checked.wait()

    results: list[str] = []

    def upload(name: str) -> None:
        try:
            image = do_add_image(personas.project, personas.owner, io.BytesIO(data), name)
            results.append(f"stored {image.original_name}")
        except ImageRefused as refusal:
            results.append(f"refused: {refusal}")
        finally:
            connections.close_all()

    pre_save.connect(wait_for_the_other, sender=Image)
    try:
        threads = [threading.Thread(target=upload, args=(n,)) for n in ("a.png", "b.png")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        pre_save.disconnect(wait_for_the_other, sender=Image)
    assert sorted(r.split(" ")[0] for r in results) == ["refused:", "stored"]
    assert Image.objects.count() == 1
    image = Image.objects.get()
    assert sorted(p.name for p in stored_files(settings)) == sorted(
        [Path(str(image.file.name)).name, Path(str(image.thumbnail.name)).name]
    )


def test_an_empty_zip_says_so(personas: Personas) -> None:
    status, reason = verdicts(send(personas, ("empty.zip", zip_bytes({}))))["empty.zip"]
    assert (status, reason) == ("ignored", "The archive is empty.")


def test_zip_entry_names_are_shown_without_control_characters(personas: Personas) -> None:
    data = zip_bytes({"evil\u202egnp.png\nnext": b"x"})
    [name] = verdicts(send(personas, ("a.zip", data)))
    assert "\u202e" not in name and "\n" not in name


@pytest.mark.django_db(transaction=True)
def test_each_committed_upload_queues_its_embedding(
    personas: Personas, embedding_queue: str
) -> None:
    verdicts(send(personas, ("a.png", image_bytes(color=(5, 5, 5))), ("bad.png", b"x")))
    image = Image.objects.get()
    assert drain_queue(embedding_queue) == [("labeling.tasks.compute_embedding", [image.pk])]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_upload_queues_nothing(personas: Personas, embedding_queue: str) -> None:
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        do_add_image(personas.project, personas.owner, io.BytesIO(image_bytes()), "a.png")
        raise RuntimeError("the surrounding work failed")
    assert drain_queue(embedding_queue) == []
    assert not Image.objects.exists()


def test_thumbnails_of_16_bit_and_transparent_images_show_content(personas: Personas) -> None:
    deep = PILImage.linear_gradient("L").resize((64, 64)).convert("I;16")
    deep_png = io.BytesIO()
    deep.save(deep_png, format="PNG")
    clear = PILImage.new("RGBA", (64, 64), (0, 0, 0, 0))
    clear_png = io.BytesIO()
    clear.save(clear_png, format="PNG")
    verdicts(send(personas, ("deep.png", deep_png.getvalue()), ("clear.png", clear_png.getvalue())))
    for image in Image.objects.all():
        with image.thumbnail.open("rb") as thumb, PILImage.open(thumb) as shown:
            low, high = (int(v) for v in shown.convert("L").getextrema())  # type: ignore[arg-type]
            if image.original_name == "deep.png":
                assert high - low > 200  # stretched, not a flat white square
            else:
                assert low > 240  # transparency flattened onto white, not black
