"""The image tallies behind the project page's counts: whatever changes an image's
statuses (a save, a bulk update, a bulk create, a delete, a project's deletion), the
counts and the grid's "N images match" equal a real count of the rows, and the
piled-up tally rows fold back without changing a figure."""

from __future__ import annotations

from django.db.models import Count
from django.urls import reverse

from labeling.image_tallies import ImageTally, compact, compact_all, tallies
from labeling.models import EmbeddingStatus, Image, LabelingStatus, Project
from labeling.services.projects import project_counts
from tests.conftest import Personas, image_row


def counted(project: Project) -> dict[tuple[str, str], int]:
    """The truth: the project's images counted row by row."""
    rows = (
        Image.objects.filter(project=project)
        .values_list("labeling_status", "embedding_status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(ls, es): n for ls, es, n in rows}


def test_tallies_follow_every_kind_of_write(personas: Personas) -> None:
    project = personas.project
    images = [image_row(project, i) for i in range(12)]
    assert tallies(project.pk) == counted(project) == {("unlabeled", "pending"): 12}

    Image.objects.filter(pk__in=[i.pk for i in images[:5]]).update(
        embedding_status=EmbeddingStatus.READY
    )
    one = images[7]
    one.labeling_status = LabelingStatus.SUBMITTED
    one.save()
    images[8].delete()
    Image.objects.bulk_create(
        Image(
            project=project, file=f"b{i}.png", original_name=f"b{i}.png", format="PNG",
            width=1, height=1, sha256=f"b{i:063x}", byte_size=1,
            embedding_status=EmbeddingStatus.FAILED,
        )
        for i in range(4)
    )  # fmt: skip
    assert tallies(project.pk) == counted(project)
    assert tallies(project.pk)[("unlabeled", "ready")] == 5
    assert tallies(project.pk)[("submitted", "pending")] == 1


def test_a_save_that_changes_no_status_adds_no_tally_row(personas: Personas) -> None:
    image = image_row(personas.project, 0)
    before = ImageTally.objects.filter(project_id=personas.project.pk).count()
    image.original_name = "renamed.png"
    image.save()
    Image.objects.filter(pk=image.pk).update(labeling_status=image.labeling_status)
    assert ImageTally.objects.filter(project_id=personas.project.pk).count() == before


def test_compacting_folds_rows_and_keeps_the_figures(personas: Personas) -> None:
    project = personas.project
    images = [image_row(project, i) for i in range(6)]
    for status in (EmbeddingStatus.RUNNING, EmbeddingStatus.READY, EmbeddingStatus.PENDING):
        for image in images:
            Image.objects.filter(pk=image.pk).update(embedding_status=status)
    Image.objects.filter(pk=images[0].pk).update(embedding_status=EmbeddingStatus.READY)
    rows_before = ImageTally.objects.filter(project_id=project.pk).count()
    assert rows_before > 30
    truth = counted(project)
    compact(project.pk)
    assert tallies(project.pk) == truth
    assert ImageTally.objects.filter(project_id=project.pk).count() == len(truth) == 2


def test_a_read_and_the_sweep_compact_piled_up_rows(personas: Personas) -> None:
    project = personas.project
    image = image_row(project, 0)
    for _ in range(40):  # 80 rows: past what a read leaves alone
        Image.objects.filter(pk=image.pk).update(embedding_status=EmbeddingStatus.RUNNING)
        Image.objects.filter(pk=image.pk).update(embedding_status=EmbeddingStatus.PENDING)
    assert tallies(project.pk) == {("unlabeled", "pending"): 1}
    assert ImageTally.objects.filter(project_id=project.pk).count() == 1
    for _ in range(15):
        Image.objects.filter(pk=image.pk).update(labeling_status=LabelingStatus.IN_PROGRESS)
        Image.objects.filter(pk=image.pk).update(labeling_status=LabelingStatus.UNLABELED)
    assert compact_all() == 1
    assert ImageTally.objects.filter(project_id=project.pk).count() == 1


def test_a_deleted_project_leaves_no_count_behind(personas: Personas) -> None:
    project = personas.project
    for i in range(3):
        image_row(project, i)
    pk = project.pk
    project.delete()
    assert tallies(pk) == {}
    compact(pk)
    assert not ImageTally.objects.filter(project_id=pk).exists()


def test_the_page_counts_and_the_grid_total_match_the_rows(personas: Personas) -> None:
    project = personas.project
    images = [image_row(project, i) for i in range(9)]
    Image.objects.filter(pk__in=[i.pk for i in images[:4]]).update(
        labeling_status=LabelingStatus.APPROVED, embedding_status=EmbeddingStatus.READY
    )
    Image.objects.filter(pk=images[4].pk).update(embedding_status=EmbeddingStatus.FAILED)
    assert project_counts(project) == {
        "images": 9, "labeled": 4, "reviewed": 4, "embedded": 4, "embedding_failed": 1,
    }  # fmt: skip
    feed = reverse("project-status", args=[project.pk])
    client = personas.client("annotator")
    page = client.get(feed, {"labeling": "approved", "per": "2"}).json()["page"]
    assert page == {"number": 1, "pages": 2, "matching": 4}
    page = client.get(feed, {"embedding": "failed"}).json()["page"]
    assert page["matching"] == 1
    html = client.get(reverse("project-detail", args=[project.pk])).content.decode()
    assert "9 images" in html
