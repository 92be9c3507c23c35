"""Project admins manage members and categories through the pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from labeling.models import Category, Membership, Project, Role
from tests.conftest import Personas, make_user


def members_url(personas: Personas) -> str:
    return reverse("project-members", args=[personas.project.pk])


def test_creating_a_project_makes_the_creator_its_admin(personas: Personas, settings: Any) -> None:
    settings.ANYMASK_PROJECT_CREATORS = ["annie"]
    client = personas.client("annotator")
    response = client.post(
        reverse("project-create"),
        {"name": "Harbour", "description": "boats", "model_spec": "sam2.1-hiera-tiny"},
    )
    project = Project.objects.get(name="Harbour")
    assert response.status_code == 302 and response["Location"].endswith(f"/projects/{project.pk}/")
    assert Membership.objects.get(project=project).user == personas.annotator
    assert Membership.objects.get(project=project).role == Role.ADMIN
    assert project.model_spec == "sam2.1-hiera-tiny"


def test_creating_a_project_needs_a_name(personas: Personas, settings: Any) -> None:
    settings.ANYMASK_PROJECT_CREATORS = ["*"]
    response = personas.client("owner").post(reverse("project-create"), {"name": ""})
    assert response.status_code == 200 and b"This field is required" in response.content
    assert Project.objects.count() == 2  # only the fixtures' projects


def test_admin_adds_a_member_by_username(personas: Personas) -> None:
    newbie = make_user("newbie")
    client = personas.client("owner")
    response = client.post(members_url(personas), {"user": "newbie", "role": "reviewer"})
    assert response.status_code == 302
    assert Membership.objects.get(project=personas.project, user=newbie).role == Role.REVIEWER
    assert "Added newbie as reviewer" in client.get(members_url(personas)).content.decode()


@pytest.mark.parametrize(
    ("identifier", "message"),
    [
        ("ghost", "No active user has the username"),
        ("annie", "annie is already a member"),
        ("", "This field is required"),
    ],
)
def test_adding_a_member_explains_what_went_wrong(
    personas: Personas, identifier: str, message: str
) -> None:
    response = personas.client("owner").post(
        members_url(personas), {"user": identifier, "role": "annotator"}
    )
    assert response.status_code == 400
    assert message in response.content.decode()


def test_admin_changes_a_role_and_removes_a_member(personas: Personas) -> None:
    client = personas.client("owner")
    membership = Membership.objects.get(project=personas.project, user=personas.annotator)
    client.post(
        reverse("member-role", args=[personas.project.pk, membership.pk]), {"role": "admin"}
    )
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    client.post(reverse("member-remove", args=[personas.project.pk, membership.pk]))
    assert not Membership.objects.filter(pk=membership.pk).exists()
    # The removed member no longer sees the project.
    detail = reverse("project-detail", args=[personas.project.pk])
    assert personas.client("annotator").get(detail).status_code == 404


def test_the_last_admin_cannot_leave_or_be_demoted(personas: Personas) -> None:
    client = personas.client("owner")
    own = Membership.objects.get(project=personas.project, user=personas.owner)
    demote = client.post(
        reverse("member-role", args=[personas.project.pk, own.pk]),
        {"role": "annotator"},
        follow=True,
    )
    assert "needs at least one admin" in demote.content.decode()
    client.post(reverse("member-remove", args=[personas.project.pk, own.pk]))
    own.refresh_from_db()
    assert own.role == Role.ADMIN


def test_role_and_removal_ignore_memberships_of_other_projects(personas: Personas) -> None:
    foreign = Membership.objects.get(user=personas.outsider)
    client = personas.client("owner")
    client.post(reverse("member-remove", args=[personas.project.pk, foreign.pk]))
    client.post(
        reverse("member-role", args=[personas.project.pk, foreign.pk]), {"role": "reviewer"}
    )
    foreign.refresh_from_db()
    assert foreign.role == Role.ADMIN


def categories_url(personas: Personas) -> str:
    return reverse("project-categories", args=[personas.project.pk])


def test_admin_manages_categories(personas: Personas) -> None:
    client = personas.client("owner")
    client.post(categories_url(personas), {"name": "car", "color": "#ff0000"})
    client.post(categories_url(personas), {"name": "bus", "color": "#00ff00"})
    car, bus = Category.objects.filter(project=personas.project).order_by("order")
    assert (car.name, car.order, bus.name, bus.order) == ("car", 0, "bus", 1)
    client.post(
        reverse("category-update", args=[personas.project.pk, bus.pk]),
        {"name": "coach", "color": "#0000ff", "order": 0},
    )
    bus.refresh_from_db()
    assert (bus.name, bus.color, bus.order) == ("coach", "#0000ff", 0)
    client.post(reverse("category-delete", args=[personas.project.pk, car.pk]))
    assert list(Category.objects.values_list("name", flat=True)) == ["coach"]


def test_category_names_are_unique_regardless_of_case(personas: Personas) -> None:
    client = personas.client("owner")
    client.post(categories_url(personas), {"name": "Car", "color": "#ff0000"})
    response = client.post(categories_url(personas), {"name": "car", "color": "#ff0000"})
    assert response.status_code == 400
    assert "already a category called" in response.content.decode()
    assert Category.objects.count() == 1


def test_category_colour_must_be_hex(personas: Personas) -> None:
    response = personas.client("owner").post(
        categories_url(personas), {"name": "car", "color": "red"}
    )
    assert response.status_code == 400 and not Category.objects.exists()


def test_a_category_in_use_cannot_be_deleted(personas: Personas) -> None:
    from labeling.models import Annotation, AnnotationSource, Image

    category = Category.objects.create(project=personas.project, name="car")
    image = Image.objects.create(
        project=personas.project,
        file="x.png",
        original_name="x.png",
        format="PNG",
        width=2,
        height=2,
        sha256="0" * 64,
        byte_size=1,
    )
    Annotation.objects.create(
        image=image,
        category=category,
        rle={"size": [2, 2], "counts": "04"},
        bbox=[0, 0, 2, 2],
        area=4,
        source=AnnotationSource.MANUAL,
    )
    response = personas.client("owner").post(
        reverse("category-delete", args=[personas.project.pk, category.pk]), follow=True
    )
    assert "is used by 1 mask" in response.content.decode()
    assert Category.objects.filter(pk=category.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_admin(personas: Personas) -> None:
    import threading

    from django.db import connections

    from labeling.services.errors import ServiceError
    from labeling.services.members import do_change_role

    second = Membership.objects.get(project=personas.project, user=personas.annotator)
    second.role = Role.ADMIN
    second.save()
    first = Membership.objects.get(project=personas.project, user=personas.owner)
    start = threading.Barrier(2, timeout=20)
    outcomes: list[str] = []

    def demote(membership_id: int) -> None:
        start.wait()
        try:
            do_change_role(personas.project, membership_id, Role.ANNOTATOR)
            outcomes.append("demoted")
        except ServiceError as error:
            outcomes.append(error.message)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=demote, args=(m.pk,)) for m in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == [
        "A project needs at least one admin. Make someone else admin first.",
        "demoted",
    ]
    assert Membership.objects.filter(project=personas.project, role=Role.ADMIN).count() == 1


def test_leaving_a_project_returns_to_the_project_list(personas: Personas) -> None:
    second = Membership.objects.get(project=personas.project, user=personas.annotator)
    second.role = Role.ADMIN
    second.save()
    client = personas.client("annotator")
    response = client.post(reverse("member-remove", args=[personas.project.pk, second.pk]))
    assert response["Location"] == reverse("project-list")


def test_logging_out_ends_the_session(personas: Personas) -> None:
    client = personas.client("owner")
    assert client.get(reverse("project-list")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302
    response = client.get(reverse("project-list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
