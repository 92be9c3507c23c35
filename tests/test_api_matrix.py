"""Every API endpoint × every persona: the same rules as the web UI.

A member with the ability gets the endpoint's success status; a member without it
gets 403; someone outside the project gets 404, exactly what a missing project
gives; no token, a wrong one, a revoked or an expired one gets 401. Then every endpoint is
called with ids that belong to another project, and must find nothing there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from inference.masks import rle_encode
from labeling.evaluation_models import EvaluationRun
from labeling.models import (
    Annotation,
    ApiToken,
    Category,
    Export,
    Image,
    Invitation,
    InvitationStatus,
    JobStatus,
    LabelingStatus,
    Membership,
    Project,
    Role,
)
from labeling.permissions import ROLE_ABILITIES, Ability
from labeling.services.annotations import (
    do_create_annotation,
    do_delete_annotation,
    do_update_annotation,
)
from labeling.services.invitations import do_invite
from labeling.services.tokens import do_create_token, do_revoke_token
from tests.api_helpers import ApiClient, api_for
from tests.conftest import Personas, image_bytes, image_row, make_user

V, A, R, M = Ability.VIEW, Ability.ANNOTATE, Ability.REVIEW, Ability.MANAGE


def square_rle(size: int = 10, side: int = 4) -> dict[str, Any]:
    mask = np.zeros((size, size), dtype=bool)
    mask[1 : 1 + side, 1 : 1 + side] = True
    return rle_encode(mask)


@dataclass
class World:
    project: Project
    image: Image
    submitted: Image
    category: Category
    spare_category: Category
    annotation: Annotation
    export: Export
    invitation: Invitation
    recategorised: Annotation  # version 2: a category change, to revert
    approved: Annotation  # version 2: a verdict, to revert
    deleted: int  # the id of a mask deleted at version 1, to restore
    evaluation: EvaluationRun


def build_world(project: Project, owner: Any, base: int) -> World:
    image = image_row(project, base)
    submitted = image_row(project, base + 1)
    Image.objects.filter(pk=submitted.pk).update(labeling_status=LabelingStatus.SUBMITTED)
    category = Category.objects.create(project=project, name=f"car{base}")
    spare = Category.objects.create(project=project, name=f"spare{base}")
    annotation = do_create_annotation(
        image, owner, rle=square_rle(), source="manual", category_id=category.pk
    )
    stored = default_storage.save(f"exports/{base}.json", ContentFile(b'{"images": []}'))
    export = Export.objects.create(
        project=project, created_by=owner, statuses=["approved"], segmentation="rle",
        status=JobStatus.DONE, file=stored,
    )  # fmt: skip
    invitation = do_invite(
        project, owner, f"guest{base}@example.com", "annotator", "http://testserver"
    ).invitation
    recategorised, approved, deleted = (
        do_create_annotation(image, owner, rle=square_rle(), source="manual", category_id=c)
        for c in (category.pk, None, None)
    )
    # A category taken off (so counts of masks per category stay as they were).
    do_update_annotation(image, recategorised.pk, owner, expected_version=1, category_id=None)
    do_update_annotation(image, approved.pk, owner, expected_version=1, status="approved")
    do_delete_annotation(image, deleted.pk, owner, expected_version=1)
    evaluation = EvaluationRun.objects.create(
        project=project, created_by=owner, spec="sam-vit-base", status=JobStatus.DONE
    )
    return World(
        project, image, submitted, category, spare, annotation, export, invitation,
        recategorised, approved, deleted.pk, evaluation,
    )  # fmt: skip


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: Callable[[World], str]
    body: Callable[[World], Any] = lambda w: None
    needs: frozenset[Ability] = frozenset({V})
    ok: int = 200


def p(w: World) -> str:
    return f"/projects/{w.project.pk}"


ENDPOINTS: dict[str, Endpoint] = {
    "project": Endpoint("GET", lambda w: p(w)),
    "images": Endpoint("GET", lambda w: f"{p(w)}/images"),
    "upload": Endpoint(
        "UPLOAD", lambda w: f"{p(w)}/images", lambda w: {"new.png": image_bytes()},
        frozenset({M}),
    ),
    "image": Endpoint("GET", lambda w: f"{p(w)}/images/{w.image.pk}"),
    "submit": Endpoint(
        "POST", lambda w: f"{p(w)}/images/{w.image.pk}/submit", needs=frozenset({A})
    ),
    "review": Endpoint(
        "POST", lambda w: f"{p(w)}/images/{w.submitted.pk}/review",
        lambda w: {"decision": "approve"}, frozenset({R}),
    ),
    "categories": Endpoint("GET", lambda w: f"{p(w)}/categories"),
    "category-create": Endpoint(
        "POST", lambda w: f"{p(w)}/categories", lambda w: {"name": "tree"}, frozenset({M}), 201
    ),
    "category-update": Endpoint(
        "PATCH", lambda w: f"{p(w)}/categories/{w.category.pk}", lambda w: {"name": "auto"},
        frozenset({M}),
    ),
    "category-delete": Endpoint(
        "DELETE", lambda w: f"{p(w)}/categories/{w.spare_category.pk}", needs=frozenset({M}),
        ok=204,
    ),
    "annotations": Endpoint("GET", lambda w: f"{p(w)}/annotations"),
    "annotation-create": Endpoint(
        "POST", lambda w: f"{p(w)}/annotations",
        lambda w: {"image": w.image.pk, "rle": square_rle(), "category": w.category.pk},
        frozenset({A}), 201,
    ),
    "annotation-create-approved": Endpoint(
        "POST", lambda w: f"{p(w)}/annotations",
        lambda w: {"image": w.image.pk, "rle": square_rle(), "status": "approved"},
        frozenset({A, R}), 201,
    ),
    "annotation-edit": Endpoint(
        "PATCH", lambda w: f"{p(w)}/annotations/{w.annotation.pk}",
        lambda w: {"version": 1, "category": w.spare_category.pk}, frozenset({A}),
    ),
    "annotation-approve": Endpoint(
        "PATCH", lambda w: f"{p(w)}/annotations/{w.annotation.pk}",
        lambda w: {"version": 1, "status": "approved"}, frozenset({R}),
    ),
    "annotation-comment": Endpoint(
        "PATCH", lambda w: f"{p(w)}/annotations/{w.annotation.pk}",
        lambda w: {"version": 1, "review_comment": "The mirror is missing."}, frozenset({R}),
    ),
    "annotation-delete": Endpoint(
        "DELETE", lambda w: f"{p(w)}/annotations/{w.annotation.pk}", lambda w: {"version": 1},
        frozenset({A}), 204,
    ),
    "annotation-revert-edit": Endpoint(
        "POST", lambda w: f"{p(w)}/annotations/{w.recategorised.pk}/revert",
        lambda w: {"version": 2}, frozenset({A}),
    ),
    "annotation-revert-verdict": Endpoint(
        "POST", lambda w: f"{p(w)}/annotations/{w.approved.pk}/revert",
        lambda w: {"version": 2}, frozenset({R}),
    ),
    "annotation-restore": Endpoint(
        "POST", lambda w: f"{p(w)}/annotations/{w.deleted}/restore",
        lambda w: {"version": 1}, frozenset({A}), 201,
    ),
    "export-start": Endpoint(
        "POST", lambda w: f"{p(w)}/exports", lambda w: {"segmentation": "rle"}, frozenset({M}),
        202,
    ),
    "exports": Endpoint("GET", lambda w: f"{p(w)}/exports", needs=frozenset({M})),
    "export": Endpoint("GET", lambda w: f"{p(w)}/exports/{w.export.pk}", needs=frozenset({M})),
    "export-download": Endpoint(
        "GET", lambda w: f"{p(w)}/exports/{w.export.pk}/download", needs=frozenset({M})
    ),
    "export-delete": Endpoint(
        "DELETE", lambda w: f"{p(w)}/exports/{w.export.pk}", needs=frozenset({M}), ok=204
    ),
    "members": Endpoint("GET", lambda w: f"{p(w)}/members", needs=frozenset({M})),
    "invitations": Endpoint("GET", lambda w: f"{p(w)}/invitations", needs=frozenset({M})),
    "invitation-create": Endpoint(
        "POST", lambda w: f"{p(w)}/invitations",
        lambda w: {"email": "new@example.com", "role": "reviewer"}, frozenset({M}), 201,
    ),
    "invitation-resend": Endpoint(
        "POST", lambda w: f"{p(w)}/invitations/{w.invitation.pk}/resend", needs=frozenset({M})
    ),
    "invitation-revoke": Endpoint(
        "DELETE", lambda w: f"{p(w)}/invitations/{w.invitation.pk}", needs=frozenset({M}), ok=204
    ),
    "evaluation-start": Endpoint(
        "POST", lambda w: f"{p(w)}/evaluations", lambda w: {"split": "all"}, frozenset({M}), 202
    ),
    "evaluations": Endpoint(
        "GET", lambda w: f"{p(w)}/evaluations", needs=frozenset({Ability.VIEW_QUALITY})
    ),
    "evaluation": Endpoint(
        "GET", lambda w: f"{p(w)}/evaluations/{w.evaluation.pk}",
        needs=frozenset({Ability.VIEW_QUALITY}),
    ),
    "classifier": Endpoint(
        "GET", lambda w: f"{p(w)}/classifier", needs=frozenset({Ability.VIEW_QUALITY})
    ),
    "classifier-train": Endpoint(
        "POST", lambda w: f"{p(w)}/classifier/train", needs=frozenset({Ability.TRAIN}), ok=202
    ),
}  # fmt: skip

MEMBERS = {"owner": Role.ADMIN, "annotator": Role.ANNOTATOR, "reviewer": Role.REVIEWER}


def send(client: ApiClient, endpoint: Endpoint, world: World) -> Any:
    if endpoint.method == "UPLOAD":
        return client.upload(endpoint.path(world), endpoint.body(world))
    return client.call(endpoint.method, endpoint.path(world), endpoint.body(world))


@pytest.fixture
def world(personas: Personas) -> World:
    return build_world(personas.project, personas.owner, 100)


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
@pytest.mark.parametrize("who", [*MEMBERS, "outsider"])
def test_each_persona_gets_what_its_role_allows(
    personas: Personas, world: World, who: str, name: str
) -> None:
    endpoint = ENDPOINTS[name]
    response = send(api_for(getattr(personas, who)), endpoint, world)
    if who == "outsider":
        expected = 404
    else:
        expected = endpoint.ok if endpoint.needs <= ROLE_ABILITIES[MEMBERS[who]] else 403
    assert response.status_code == expected, (who, name, response.content[:300])
    if expected in (403, 404):
        assert "detail" in response.json()


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
@pytest.mark.parametrize("token", ["none", "wrong", "revoked", "expired", "inactive"])
def test_it_refuses_calls_without_a_working_token(
    personas: Personas, world: World, token: str, name: str
) -> None:
    if token == "none":
        client = ApiClient(None)
    elif token == "wrong":
        client = ApiClient("am_" + "x" * 43)
    else:
        row, secret = do_create_token(personas.owner, "soon gone")
        client = ApiClient(secret)
        if token == "revoked":
            do_revoke_token(personas.owner, row.pk)
        elif token == "expired":
            ApiToken.objects.filter(pk=row.pk).update(expires_at=timezone.now())
        else:
            personas.owner.is_active = False
            personas.owner.save()
    response = send(client, ENDPOINTS[name], world)
    assert response.status_code == 401, response.content[:300]


def test_a_session_cookie_alone_does_not_open_the_api(personas: Personas, world: World) -> None:
    """Only tokens authenticate the API, so a page on another site cannot ride a
    logged-in browser's cookies into it (no CSRF on the API)."""
    browser = personas.client("owner")
    assert browser.get(f"/api/v1/projects/{world.project.pk}").status_code == 401
    assert browser.post(f"/api/v1/projects/{world.project.pk}/categories").status_code == 401


# Endpoints whose path names an object: called under our project with the id of the
# other project's object, they must answer as if the id did not exist.
FOREIGN_PATHS = [
    "image", "submit", "review", "category-update", "category-delete", "annotation-edit",
    "annotation-approve", "annotation-comment", "annotation-delete", "annotation-revert-edit",
    "annotation-revert-verdict", "annotation-restore", "export",
    "export-download", "export-delete", "invitation-resend", "invitation-revoke", "evaluation",
]  # fmt: skip


@pytest.fixture
def foreign(personas: Personas) -> World:
    """Another project, with its own objects, where our owner is not a member."""
    stranger = make_user("stranger")
    project = Project.objects.create(name="Elsewhere", created_by=stranger)
    Membership.objects.create(project=project, user=stranger, role=Role.ADMIN)
    return build_world(project, stranger, 200)


def mixed(world: World, foreign: World) -> World:
    """Our project, with every object swapped for the other project's."""
    return World(
        world.project, foreign.image, foreign.submitted, foreign.category,
        foreign.spare_category, foreign.annotation, foreign.export, foreign.invitation,
        foreign.recategorised, foreign.approved, foreign.deleted, foreign.evaluation,
    )  # fmt: skip


@pytest.mark.parametrize("name", FOREIGN_PATHS)
def test_it_rejects_foreign_ids_in_paths(
    personas: Personas, world: World, foreign: World, name: str
) -> None:
    before = Annotation.objects.get(pk=foreign.annotation.pk)
    response = send(api_for(personas.owner), ENDPOINTS[name], mixed(world, foreign))
    assert response.status_code == 404, response.content[:300]
    assert response.json() == {"detail": "Not found."}
    after = Annotation.objects.get(pk=foreign.annotation.pk)
    assert (after.version, after.status, after.category_id) == (
        before.version, before.status, before.category_id,
    )  # fmt: skip
    assert Category.objects.filter(pk=foreign.spare_category.pk).exists()
    for theirs in (foreign.recategorised, foreign.approved):
        assert Annotation.objects.get(pk=theirs.pk).version == 2
    assert not Annotation.objects.filter(pk=foreign.deleted).exists()
    assert Export.objects.filter(pk=foreign.export.pk).exists()
    assert Image.objects.get(pk=foreign.submitted.pk).labeling_status == LabelingStatus.SUBMITTED
    assert Invitation.objects.get(pk=foreign.invitation.pk).status == InvitationStatus.PENDING


def test_it_rejects_foreign_ids_in_bodies(personas: Personas, world: World, foreign: World) -> None:
    client = api_for(personas.owner)
    path = f"/projects/{world.project.pk}/annotations"
    on_their_image = client.call("POST", path, {"image": foreign.image.pk, "rle": square_rle()})
    assert on_their_image.status_code == 404
    their_category = {"image": world.image.pk, "rle": square_rle(), "category": foreign.category.pk}
    refused = client.call("POST", path, their_category)
    assert refused.status_code == 400
    assert refused.json()["field"] == "category"
    moved = client.call(
        "PATCH", f"{path}/{world.annotation.pk}", {"version": 1, "category": foreign.category.pk}
    )
    assert moved.status_code == 400
    assert Annotation.objects.filter(category=foreign.category).count() == 1  # theirs only
    listed = client.get(path, image=foreign.image.pk)
    assert listed.status_code == 200
    assert listed.json() == {"items": [], "count": 0}


def test_it_hides_other_projects_from_the_project_list(personas: Personas) -> None:
    listed = api_for(personas.annotator).get("/projects").json()
    assert [(p["name"], p["role"]) for p in listed["items"]] == [("Streets", "annotator")]
    mine = api_for(personas.outsider).get("/projects").json()
    assert [p["name"] for p in mine["items"]] == ["Oscar's own"]


def test_the_project_list_filters_by_my_role_sorts_and_pages(personas: Personas) -> None:
    annie = personas.annotator
    for name, role in [
        ("Bridges", Role.ADMIN),
        ("Canals", Role.REVIEWER),
        ("Alleys", Role.ANNOTATOR),
    ]:
        project = Project.objects.create(name=name, created_by=personas.owner)
        Membership.objects.create(project=project, user=annie, role=role)
        # Someone else's role in the same project must never show as, or filter, hers.
        Membership.objects.create(project=project, user=personas.owner, role=Role.ADMIN)
    api = api_for(annie)
    listed = api.get("/projects").json()
    assert listed["count"] == 4
    assert [(p["name"], p["role"]) for p in listed["items"]] == [
        ("Alleys", "annotator"), ("Bridges", "admin"), ("Canals", "reviewer"),
        ("Streets", "annotator"),
    ]  # fmt: skip
    assert [p["name"] for p in api.get("/projects", role="admin").json()["items"]] == ["Bridges"]
    page = api.get("/projects", sort="-name", limit=2, offset=1).json()
    assert [p["name"] for p in page["items"]] == ["Canals", "Bridges"] and page["count"] == 4
    assert api.get("/projects", role="owner").status_code == 422
