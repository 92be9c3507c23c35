"""A new admin logs in, creates a project, and uploads through the page."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from labeling.models import Image, Project
from tests.conftest import PASSWORD, image_bytes, make_user, zip_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()


def test_admin_creates_a_project_and_uploads_images(
    page: Any, live_server: Any, tmp_path: Path
) -> None:
    ada = make_user("ada")
    ada.is_staff = True  # by default only site staff may create projects
    ada.save()
    log_in(page, live_server.url, "ada")
    page.get_by_role("link", name="New project").click()
    page.get_by_label("Name").fill("Harbour survey")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name="Harbour survey")).to_be_visible()
    expect(page.get_by_text("No images yet")).to_be_visible()

    page.get_by_role("link", name="Upload", exact=True).click()
    page.wait_for_selector("#dropzone[data-ready]")
    files = {
        "boat.png": image_bytes("PNG", (80, 60), (10, 80, 200)),
        "pier.jpg": image_bytes("JPEG", (90, 70), (120, 90, 30)),
        "notes.jpg": b"definitely not a picture",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    page.set_input_files("#file-input", [str(tmp_path / name) for name in files])

    rows = page.locator("#upload-list > li")
    expect(rows).to_have_count(3)
    expect(page.locator("#upload-summary")).to_have_text("Done. 2 accepted, 1 refused.")
    expect(page.locator('li[data-name="boat.png"] .state')).to_have_text("accepted")
    expect(page.locator('li[data-name="pier.jpg"] .state')).to_have_text("accepted")
    refusal = page.locator('li[data-name="notes.jpg"] .outcome')
    expect(refusal).to_contain_text("refused: This is not a supported image")
    for bar in page.locator("#upload-list progress").all():
        expect(bar).to_have_attribute("value", "100")

    page.get_by_role("link", name="Images").click()
    expect(page.locator(".tile")).to_have_count(2)
    expect(page.locator('[data-count="images"]')).to_have_text("2")
    for tile_image in page.locator(".tile img").all():
        # The thumbnails really load (natural width > 0), through the access check.
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=tile_image.element_handle()
        )
    project = Project.objects.get(name="Harbour survey")
    assert sorted(
        Image.objects.filter(project=project).values_list("original_name", flat=True)
    ) == [
        "boat.png",
        "pier.jpg",
    ]


def test_dropping_a_zip_reports_each_member(page: Any, live_server: Any) -> None:
    from labeling.services.projects import do_create_project

    owner = make_user("bo")
    project = do_create_project(owner, name="Zips")
    log_in(page, live_server.url, "bo")
    page.goto(f"{live_server.url}/projects/{project.pk}/upload/")
    page.wait_for_selector("#dropzone[data-ready]")
    archive = zip_bytes(
        {
            "a.png": image_bytes(color=(1, 2, 3)),
            "b.webp": image_bytes("WEBP", color=(3, 2, 1)),
            "../evil.png": image_bytes(color=(9, 9, 9)),
            "readme.md": b"# hi",
        }
    )
    transfer = page.evaluate_handle(
        """(b64) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], "batch.zip", { type: "application/zip" }));
            return dt;
        }""",
        base64.b64encode(archive).decode(),
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    row = page.locator('li[data-name="batch.zip"]')
    expect(row.locator(".state")).to_have_text("2 of 4 accepted")
    expect(row.locator('[data-status="refused"]')).to_contain_text("'..'")
    expect(row.locator('[data-status="ignored"]')).to_contain_text("readme.md")
    assert Image.objects.filter(project=project).count() == 2
