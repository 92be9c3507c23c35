"""The project grid at scale: filters, sort, server-side paging, bounded inputs."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from labeling.image_tallies import compact
from labeling.models import EmbeddingStatus, Image, LabelingStatus, Project
from tests.conftest import Personas, image_row


def rows(project: Project, count: int, start: int = 0) -> list[Image]:
    return [image_row(project, start + i) for i in range(count)]


def unsaved(project: Project, index: int, name: str = "") -> Image:
    return Image(
        project=project, file=f"{index}.png", original_name=name or f"{index}.png",
        format="PNG", width=1, height=1, sha256=f"{index:064x}", byte_size=1,
    )  # fmt: skip


def tile_ids(html: str) -> list[int]:
    marker = 'class="tile" data-image-id="'
    ids = []
    for chunk in html.split(marker)[1:]:
        ids.append(int(chunk[: chunk.index('"')]))
    return ids


def page_of(personas: Personas, who: str = "annotator", **params: str) -> tuple[int, str]:
    url = reverse("project-detail", args=[personas.project.pk])
    response = personas.client(who).get(url, params)
    return response.status_code, response.content.decode()


def feed(personas: Personas, who: str = "annotator", **params: str) -> dict:
    url = reverse("project-status", args=[personas.project.pk])
    response = personas.client(who).get(url, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_grid_filters_by_labeling_and_embedding_status(personas: Personas) -> None:
    images = rows(personas.project, 6)
    Image.objects.filter(pk__in=[images[1].pk, images[4].pk]).update(
        labeling_status=LabelingStatus.SUBMITTED
    )
    Image.objects.filter(pk__in=[images[4].pk, images[5].pk]).update(
        embedding_status=EmbeddingStatus.FAILED
    )
    status, html = page_of(personas, labeling="submitted")
    assert status == 200
    assert tile_ids(html) == [images[1].pk, images[4].pk]
    assert "2 images match" in html
    _, html = page_of(personas, labeling="submitted", embedding="failed")
    assert tile_ids(html) == [images[4].pk]
    assert "1 image matches" in html
    # The headline counts stay the project's, whatever the filter.
    assert 'data-count="images">6<' in html
    data = feed(personas, embedding="failed")
    assert [image["id"] for image in data["images"]] == [images[4].pk, images[5].pk]
    assert data["page"] == {"number": 1, "pages": 1, "matching": 2}


def test_grid_filters_by_assignee_live_claim_or_submitter(personas: Personas) -> None:
    claimed, submitted, stale, free = rows(personas.project, 4)
    now = timezone.now()
    Image.objects.filter(pk=claimed.pk).update(claimed_by=personas.annotator, claimed_at=now)
    Image.objects.filter(pk=submitted.pk).update(
        submitted_by=personas.annotator, labeling_status=LabelingStatus.SUBMITTED
    )
    # A claim long expired is nobody's any more.
    Image.objects.filter(pk=stale.pk).update(
        claimed_by=personas.reviewer, claimed_at=now - timedelta(days=3)
    )
    _, html = page_of(personas, "annotator", assignee="me")
    assert tile_ids(html) == [claimed.pk, submitted.pk]
    _, html = page_of(personas, "owner", assignee="annie")
    assert tile_ids(html) == [claimed.pk, submitted.pk]
    _, html = page_of(personas, "owner", assignee="rita")
    assert tile_ids(html) == []
    assert "No images match these filters" in html
    _, html = page_of(personas, "owner", assignee="none")
    assert tile_ids(html) == [stale.pk, free.pk]
    # Someone outside the project matches nothing, as if they had no images.
    _, html = page_of(personas, "owner", assignee="oscar")
    assert tile_ids(html) == []
    # The filter lists members only.
    assert '<option value="oscar"' not in html and '<option value="rita"' in html


def test_grid_sorts_by_name_and_newest_first(personas: Personas) -> None:
    project = personas.project
    names = ["b.png", "c.png", "a.png"]
    images = Image.objects.bulk_create(unsaved(project, i, name) for i, name in enumerate(names))
    _, html = page_of(personas, sort="name")
    assert tile_ids(html) == [images[2].pk, images[0].pk, images[1].pk]
    _, html = page_of(personas, sort="-name")
    assert tile_ids(html) == [images[1].pk, images[0].pk, images[2].pk]
    _, html = page_of(personas, sort="-uploaded")
    assert tile_ids(html) == [image.pk for image in reversed(images)]


def test_grid_pages_keep_the_filters_and_the_feed_follows_the_page(personas: Personas) -> None:
    images = rows(personas.project, 25)
    ready = [image.pk for image in images if image.pk % 2]
    Image.objects.filter(pk__in=ready).update(embedding_status=EmbeddingStatus.READY)
    _, html = page_of(personas, embedding="ready", per="5", page="2")
    assert tile_ids(html) == ready[5:10]
    pages = -(-len(ready) // 5)
    assert f"Page 2 of {pages}" in html
    assert 'href="?embedding=ready&amp;per=5" rel="prev"' in html
    assert 'href="?embedding=ready&amp;per=5&amp;page=3" rel="next"' in html
    # The status feed the page polls carries the same filters and page.
    assert "status.json?embedding=ready&amp;per=5&amp;page=2" in html
    data = feed(personas, embedding="ready", per="5", page="2")
    assert [image["id"] for image in data["images"]] == ready[5:10]
    # Past the end shows the last page rather than an error.
    _, html = page_of(personas, embedding="ready", per="5", page="999")
    assert tile_ids(html) == ready[(pages - 1) * 5 :]


def test_it_refuses_bad_grid_parameters_with_a_clear_400(personas: Personas) -> None:
    rows(personas.project, 2)
    for params, message in [
        ({"per": "100000"}, "'per' must be a whole number from 1 to 500."),
        ({"per": "0"}, "'per' must be a whole number from 1 to 500."),
        ({"page": "-1"}, "'page' must be a whole number"),
        ({"page": "x" * 50}, "'page' must be a whole number"),
        ({"labeling": "done"}, "'labeling' must be one of: unlabeled,"),
        ({"embedding": "'; drop table"}, "'embedding' must be one of: pending,"),
        ({"sort": "sha256"}, "'sort' must be one of: uploaded,"),
        ({"assignee": "x" * 151}, "'assignee' must be at most 150 characters."),
    ]:
        status, body = page_of(personas, **params)
        assert status == 400 and message in body, (params, status, body[:200])
        response = personas.client("annotator").get(
            reverse("project-status", args=[personas.project.pk]), params
        )
        assert response.status_code == 400
        assert message in response.json()["error"]


def test_it_refuses_the_grid_and_feed_to_outsiders(personas: Personas) -> None:
    rows(personas.project, 2)
    status, _ = page_of(personas, "outsider", labeling="unlabeled")
    assert status in (403, 404)
    response = personas.client("outsider").get(
        reverse("project-status", args=[personas.project.pk]), {"assignee": "owner"}
    )
    assert response.status_code in (403, 404)
    assert "images" not in response.content.decode()


def test_grid_never_shows_another_projects_images(personas: Personas) -> None:
    mine = rows(personas.project, 2)
    elsewhere = Project.objects.get(name="Oscar's own")
    theirs = rows(elsewhere, 3, start=100)
    _, html = page_of(personas, "owner", per="500")
    assert tile_ids(html) == [image.pk for image in mine]
    data = feed(personas, "owner", per="500")
    assert {image["id"] for image in data["images"]}.isdisjoint(image.pk for image in theirs)


def test_grid_query_count_does_not_grow_with_the_project(personas: Personas) -> None:
    def queries(count: int) -> tuple[int, int]:
        Image.objects.filter(project=personas.project).delete()
        Image.objects.bulk_create(unsaved(personas.project, i) for i in range(count))
        # SQLite's row triggers leave a tally row per image inserted; the workers'
        # sweep (or the first read) folds them, so measure after that, as a page sees
        # its project almost always (tests/test_image_tallies.py covers the folding).
        compact(personas.project.pk)
        client = personas.client("owner")
        with CaptureQueriesContext(connection) as page:
            client.get(reverse("project-detail", args=[personas.project.pk]))
        with CaptureQueriesContext(connection) as status:
            client.get(reverse("project-status", args=[personas.project.pk]))
        return len(page.captured_queries), len(status.captured_queries)

    assert queries(3) == queries(400)


def test_tile_markup_escapes_names_and_errors(personas: Personas) -> None:
    """The tiles are written by a format string, not the template: everything a user
    or a worker wrote into them must still come out escaped."""
    image = image_row(personas.project, 0)
    Image.objects.filter(pk=image.pk).update(
        original_name='<img src=x onerror="alert(1)">.png',
        embedding_status=EmbeddingStatus.FAILED,
        embedding_error='bad "file" <b>',
    )
    status, html = page_of(personas, "owner")
    assert status == 200
    assert "<img src=x" not in html and "<b>" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;.png" in html
    assert 'title="bad &quot;file&quot; &lt;b&gt;"' in html
    assert 'aria-label="Select &lt;img src=x' in html  # the owner may pick images
