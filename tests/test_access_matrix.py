"""Every project URL × every persona: who gets in, who gets 403, who gets 404.

Outsiders must get exactly what a missing project gives, so a response never
reveals whether a project exists.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import reverse

from labeling.models import Category, Image, Membership
from labeling.services.uploads import do_add_image
from tests.conftest import Personas, image_bytes


@dataclass
class Target:
    project_id: int
    image_id: int
    category_id: int
    membership_id: int


@pytest.fixture
def target(personas: Personas) -> Target:
    image = do_add_image(personas.project, personas.owner, io.BytesIO(image_bytes()), "a.png")
    category = Category.objects.create(project=personas.project, name="car")
    membership = Membership.objects.get(project=personas.project, user=personas.reviewer)
    return Target(personas.project.pk, image.pk, category.pk, membership.pk)


Request = Callable[[Client, Target], int]


def get(name: str, *extra: str) -> Request:
    def run(client: Client, t: Target) -> int:
        ids = {"image": t.image_id, "category": t.category_id, "membership": t.membership_id}
        url = reverse(name, args=[t.project_id, *(ids[e] for e in extra)])
        return client.get(url).status_code

    run.__name__ = f"GET {name}"
    return run


def post(name: str, data: dict[str, object], *extra: str) -> Request:
    def run(client: Client, t: Target) -> int:
        ids = {"image": t.image_id, "category": t.category_id, "membership": t.membership_id}
        url = reverse(name, args=[t.project_id, *(ids[e] for e in extra)])
        return client.post(url, data).status_code

    run.__name__ = f"POST {name}"
    return run


def upload(client: Client, t: Target) -> int:
    file = io.BytesIO(image_bytes(color=(1, 2, 3)))
    file.name = "new.png"
    url = reverse("image-upload", args=[t.project_id])
    return client.post(url, {"files": [file]}).status_code


VIEWERS = {"owner": 200, "annotator": 200, "reviewer": 200, "outsider": 404}
ADMIN_PAGE = {"owner": 200, "annotator": 403, "reviewer": 403, "outsider": 404}
ADMIN_ACTION = {"owner": 302, "annotator": 403, "reviewer": 403, "outsider": 404}

MATRIX: list[tuple[Request, dict[str, int]]] = [
    (get("project-detail"), VIEWERS),
    (get("project-status"), VIEWERS),
    (get("image-file", "image"), VIEWERS),
    (get("image-thumbnail", "image"), VIEWERS),
    (get("project-members"), ADMIN_PAGE),
    (post("project-members", {"user": "oscar", "role": "annotator"}), ADMIN_ACTION),
    (post("member-role", {"role": "annotator"}, "membership"), ADMIN_ACTION),
    (post("member-remove", {}, "membership"), ADMIN_ACTION),
    (get("project-categories"), ADMIN_PAGE),
    (post("project-categories", {"name": "bus", "color": "#00ff00"}), ADMIN_ACTION),
    (
        post("category-update", {"name": "van", "color": "#00ff00", "order": 2}, "category"),
        ADMIN_ACTION,
    ),
    (post("category-delete", {}, "category"), ADMIN_ACTION),
    (get("image-upload-page"), ADMIN_PAGE),
    (upload, ADMIN_PAGE),
]


@pytest.mark.parametrize(("request_", "expected"), MATRIX, ids=[r.__name__ for r, _ in MATRIX])
@pytest.mark.parametrize("persona", ["owner", "annotator", "reviewer", "outsider"])
def test_access_matrix(
    personas: Personas,
    target: Target,
    request_: Request,
    expected: dict[str, int],
    persona: str,
) -> None:
    assert request_(personas.client(persona), target) == expected[persona]


@pytest.mark.parametrize(("request_", "_expected"), MATRIX, ids=[r.__name__ for r, _ in MATRIX])
def test_it_sends_anonymous_users_to_login(
    personas: Personas, target: Target, request_: Request, _expected: dict[str, int]
) -> None:
    assert request_(Client(), target) == 302


def test_outsider_sees_the_same_404_as_for_a_missing_project(
    personas: Personas, target: Target
) -> None:
    client = personas.client("outsider")
    existing = client.get(reverse("project-detail", args=[target.project_id]))
    missing = client.get(reverse("project-detail", args=[target.project_id + 999]))
    assert existing.status_code == missing.status_code == 404
    token = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')
    assert token.sub(b"", existing.content) == token.sub(b"", missing.content)
    assert b"Streets" not in existing.content


def test_it_rejects_foreign_image_through_own_project(personas: Personas, target: Target) -> None:
    """An outsider cannot reach another project's image via a project they do own."""
    own_project = personas.outsider.memberships.get().project_id
    client = personas.client("outsider")
    url = reverse("image-file", args=[own_project, target.image_id])
    assert client.get(url).status_code == 404


def test_it_refuses_a_removed_member_at_once(personas: Personas, target: Target) -> None:
    client = personas.client("annotator")
    url = reverse("project-detail", args=[target.project_id])
    assert client.get(url).status_code == 200
    Membership.objects.filter(user=personas.annotator).delete()
    assert client.get(url).status_code == 404


def test_project_list_shows_only_my_projects(personas: Personas) -> None:
    page = personas.client("annotator").get(reverse("project-list")).content.decode()
    assert "Streets" in page
    assert "Oscar&#x27;s own" not in page and "Oscar's own" not in page


def test_media_is_not_served_publicly(personas: Personas, target: Target) -> None:
    image = Image.objects.get(pk=target.image_id)
    response = personas.client("owner").get(f"/media/{image.file.name}")
    assert response.status_code == 404
