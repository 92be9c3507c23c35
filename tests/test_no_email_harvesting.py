"""No email harvesting: a project admin (anyone who makes a project) sees the
usernames and display names of its members, never their email addresses; site
staff and the person themself do."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.urls import reverse

from labeling.models import Membership, Role
from tests.api_helpers import api_for
from tests.conftest import Personas, make_user


def test_a_project_admin_sees_names_but_no_one_elses_email(personas: Personas) -> None:
    User.objects.filter(pk=personas.annotator.pk).update(first_name="Annie", last_name="Lee")
    page = personas.client("owner").get(reverse("project-members", args=[personas.project.pk]))
    text = page.content.decode()
    assert "annie" in text and "Annie Lee" in text and "rita" in text
    assert "annie@example.com" not in text and "rita@example.com" not in text
    assert "owner@example.com" in text  # their own


def test_a_member_added_by_username_shows_no_email_to_the_adder(personas: Personas) -> None:
    # The probe's attack: make a project, add people by username, read their addresses.
    client = personas.client("outsider")
    own = personas.outsider.memberships.get().project_id
    url = reverse("project-members", args=[own])
    client.post(url, {"user": "annie", "role": "annotator"})
    assert Membership.objects.filter(project_id=own, user=personas.annotator).exists()
    assert "annie@example.com" not in client.get(url).content.decode()


def test_site_staff_see_emails(personas: Personas) -> None:
    User.objects.filter(pk=personas.owner.pk).update(is_staff=True)
    page = personas.client("owner").get(reverse("project-members", args=[personas.project.pk]))
    assert "annie@example.com" in page.content.decode()


def test_the_api_gives_emails_only_to_staff_and_to_oneself(personas: Personas) -> None:
    path = f"/projects/{personas.project.pk}/members"
    rows = api_for(personas.owner).get(path).json()["items"]
    by_name = {row["username"]: row for row in rows}
    assert set(by_name) == {"owner", "annie", "rita"}
    assert by_name["annie"] == {
        "username": "annie", "display_name": "", "role": Role.ANNOTATOR, "email": None,
    }  # fmt: skip
    assert by_name["owner"]["email"] == "owner@example.com"
    User.objects.filter(pk=personas.owner.pk).update(is_staff=True)
    rows = api_for(personas.owner).get(path).json()["items"]
    assert {row["username"]: row["email"] for row in rows}["annie"] == "annie@example.com"


def test_the_api_members_list_filters_by_role(personas: Personas) -> None:
    path = f"/projects/{personas.project.pk}/members"
    rows = api_for(personas.owner).get(path, role="reviewer").json()["items"]
    assert [row["username"] for row in rows] == ["rita"]


def test_adding_by_email_adds_no_one_directly(personas: Personas) -> None:
    dana = make_user("dana")
    response = personas.client("owner").post(
        reverse("project-members", args=[personas.project.pk]),
        {"user": "dana@example.com", "role": "annotator"},
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(user=dana).exists()
