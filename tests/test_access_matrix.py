"""Every project URL × every persona: who gets in, who gets 403, who gets 404.

Outsiders must get exactly what a missing project gives, so a response never
reveals whether a project exists.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from labeling.category_classifier import CategoryClassifier
from labeling.evaluation_models import EvaluationRun
from labeling.models import (
    Category,
    CocoImport,
    Export,
    Image,
    Invitation,
    JobStatus,
    Membership,
    Project,
    ProposalJob,
)
from labeling.services.invitations import do_invite
from labeling.services.uploads import do_add_image
from tests.conftest import Personas, image_bytes

if TYPE_CHECKING:  # the stubs' name for what the test client returns
    from django.test.client import _MonkeyPatchedWSGIResponse as Response


@dataclass
class Target:
    project_id: int
    image_id: int
    category_id: int
    membership_id: int
    job_id: int
    invitation_id: int


@pytest.fixture
def target(personas: Personas) -> Target:
    image = do_add_image(personas.project, personas.owner, io.BytesIO(image_bytes()), "a.png")
    category = Category.objects.create(project=personas.project, name="car")
    membership = Membership.objects.get(project=personas.project, user=personas.reviewer)
    # A finished export to download (its file is what an export job would store).
    stored = default_storage.save(f"exports/{personas.project.pk}/a.json", ContentFile(b"{}"))
    Export.objects.create(
        project=personas.project, statuses=["approved"], segmentation="rle",
        status=JobStatus.DONE, file=stored,
    )  # fmt: skip
    # A queued proposal job to cancel (made directly: nothing needs to run it).
    job = ProposalJob.objects.create(project=personas.project, image_ids=[image.pk], total=1)
    invited = do_invite(
        personas.project, personas.owner, "guest@example.com", "annotator", "http://testserver"
    )
    return Target(
        personas.project.pk, image.pk, category.pk, membership.pk, job.pk, invited.invitation.pk
    )


Request = Callable[[Client, Target], "Response"]
State = Callable[[Target], object]


def ids_for(t: Target, *extra: str) -> list[int]:
    ids = {
        "image": t.image_id,
        "category": t.category_id,
        "membership": t.membership_id,
        "job": t.job_id,
        "invitation": t.invitation_id,
    }
    return [t.project_id, *(ids[e] for e in extra)]


def get(name: str, *extra: str) -> Request:
    def run(client: Client, t: Target) -> Response:
        return client.get(reverse(name, args=ids_for(t, *extra)))

    run.__name__ = f"GET {name}"
    return run


def post(name: str, data: dict[str, object], *extra: str) -> Request:
    def run(client: Client, t: Target) -> Response:
        return client.post(reverse(name, args=ids_for(t, *extra)), data)

    run.__name__ = f"POST {name}"
    return run


def upload(client: Client, t: Target) -> Response:
    file = io.BytesIO(image_bytes(color=(1, 2, 3)))
    file.name = "new.png"
    return client.post(reverse("image-upload", args=[t.project_id]), {"files": [file]})


def label_go(client: Client, t: Target) -> Response:
    return client.get(reverse("label-go", args=[t.project_id, t.image_id, "next-unlabeled"]))


def export_download(client: Client, t: Target) -> Response:
    export = Export.objects.filter(project_id=t.project_id).first()
    export_id = export.pk if export else 1  # a missing project has none
    return client.get(reverse("export-download", args=[t.project_id, export_id]))


def export_delete(client: Client, t: Target) -> Response:
    export = Export.objects.filter(project_id=t.project_id).first()
    export_id = export.pk if export else 1  # a missing project has none
    return client.post(reverse("export-delete", args=[t.project_id, export_id]))


def exports_of(t: Target) -> object:
    return Export.objects.filter(project_id=t.project_id).count()


def coco_upload(client: Client, t: Target) -> Response:
    file = io.BytesIO(b'{"images": [], "annotations": [], "categories": []}')
    file.name = "coco.json"
    return client.post(reverse("project-imports", args=[t.project_id]), {"file": file})


def imports_of(t: Target) -> object:
    return CocoImport.objects.filter(project_id=t.project_id).count()


def proposal_jobs_of(t: Target) -> object:
    return ProposalJob.objects.filter(project_id=t.project_id).count()


def proposal_job_status(t: Target) -> object:
    return list(ProposalJob.objects.filter(pk=t.job_id).values_list("status", flat=True))


def evaluations_of(t: Target) -> object:
    return EvaluationRun.objects.filter(project_id=t.project_id).count()


def quality_cancel(client: Client, t: Target) -> Response:
    # A queued run to cancel, made directly (a missing project has none).
    run_id = 1
    if Project.objects.filter(pk=t.project_id).exists():
        run_id = EvaluationRun.objects.create(project_id=t.project_id, spec="sam-vit-base").pk
    return client.post(reverse("quality-cancel", args=[t.project_id, run_id]))


def classifier_pending(t: Target) -> object:
    return CategoryClassifier.objects.filter(project_id=t.project_id, pending=True).count()


def canceled_evaluations(t: Target) -> object:
    return EvaluationRun.objects.filter(project_id=t.project_id, status=JobStatus.CANCELED).count()


def members_of(t: Target) -> object:
    return sorted(Membership.objects.filter(project_id=t.project_id).values_list("user", "role"))


def invitations_of(t: Target) -> object:
    rows = Invitation.objects.filter(project_id=t.project_id)
    return sorted(rows.values_list("email", "status", "token_hash"))


def categories_of(t: Target) -> object:
    return sorted(Category.objects.filter(project_id=t.project_id).values_list("name", "color"))


def images_of(t: Target) -> object:
    return Image.objects.filter(project_id=t.project_id).count()


VIEWERS = {"owner": 200, "annotator": 200, "reviewer": 200, "outsider": 404}
ADMIN_PAGE = {"owner": 200, "annotator": 403, "reviewer": 403, "outsider": 404}
ADMIN_ACTION = {"owner": 302, "annotator": 403, "reviewer": 403, "outsider": 404}
REVIEW_ACTION = {"owner": 302, "annotator": 403, "reviewer": 302, "outsider": 404}
REVIEW_PAGE = {"owner": 200, "annotator": 403, "reviewer": 200, "outsider": 404}
ANNOTATE_ACTION = {"owner": 302, "annotator": 302, "reviewer": 403, "outsider": 404}
REDIRECTS = {"owner": 302, "annotator": 302, "reviewer": 302, "outsider": 404}

# (request, expected status per persona, the state an allowed request changes)
MATRIX: list[tuple[Request, dict[str, int], State | None]] = [
    (get("project-detail"), VIEWERS, None),
    (get("project-status"), VIEWERS, None),
    (get("project-model-status"), VIEWERS, None),
    (get("image-file", "image"), VIEWERS, None),
    (get("image-thumbnail", "image"), VIEWERS, None),
    (get("label-page", "image"), VIEWERS, None),
    (get("image-history", "image"), VIEWERS, None),
    (get("image-display", "image"), VIEWERS, None),
    (get("label-start"), REDIRECTS, None),
    (label_go, REDIRECTS, None),
    (post("image-submit", {}, "image"), ANNOTATE_ACTION, None),
    (get("project-dashboard"), REVIEW_PAGE, None),
    (get("project-review"), REVIEW_PAGE, None),
    (post("image-review", {"decision": "approve"}, "image"), REVIEW_ACTION, None),
    (get("project-members"), ADMIN_PAGE, None),
    (get("project-settings"), ADMIN_PAGE, None),
    (
        post("project-settings", {"name": "Renamed", "model_spec": "sam-vit-base"}),
        ADMIN_ACTION,
        lambda t: Project.objects.get(pk=t.project_id).name,
    ),
    (post("project-members", {"user": "oscar", "role": "annotator"}), ADMIN_ACTION, members_of),
    (post("member-role", {"role": "annotator"}, "membership"), ADMIN_ACTION, members_of),
    (post("member-remove", {}, "membership"), ADMIN_ACTION, members_of),
    (
        post("project-members", {"user": "new@example.com", "role": "annotator"}),
        ADMIN_ACTION,
        invitations_of,
    ),
    (post("invitation-resend", {}, "invitation"), ADMIN_ACTION, invitations_of),
    (post("invitation-revoke", {}, "invitation"), ADMIN_ACTION, invitations_of),
    (get("project-categories"), ADMIN_PAGE, None),
    (post("project-categories", {"name": "bus", "color": "#00ff00"}), ADMIN_ACTION, categories_of),
    (
        post("category-update", {"name": "van", "color": "#00ff00", "order": 2}, "category"),
        ADMIN_ACTION,
        categories_of,
    ),
    (post("category-delete", {}, "category"), ADMIN_ACTION, categories_of),
    (get("image-upload-page"), ADMIN_PAGE, None),
    (upload, ADMIN_PAGE, images_of),
    (get("project-exports"), ADMIN_PAGE, None),
    (get("project-exports-status"), ADMIN_PAGE, None),
    (
        post("project-exports", {"statuses": ["approved"], "segmentation": "rle"}),
        ADMIN_ACTION,
        exports_of,
    ),
    (export_download, ADMIN_PAGE, None),
    (export_delete, ADMIN_ACTION, exports_of),
    (coco_upload, ADMIN_ACTION, imports_of),
    (
        post("proposals-filters", {"min_iou": "0.5", "min_stability": "0.5", "min_area": "5"}),
        ADMIN_ACTION,
        lambda t: Project.objects.get(pk=t.project_id).proposal_min_iou,
    ),
    (post("proposals-start", {"scope": "project"}), ADMIN_ACTION, proposal_jobs_of),
    (post("proposals-cancel", {}, "job"), ADMIN_ACTION, proposal_job_status),
    (get("project-quality"), REVIEW_PAGE, None),
    (get("project-quality-status"), REVIEW_PAGE, None),
    (post("project-quality", {"version": "base", "split": "all"}), ADMIN_ACTION, evaluations_of),
    (quality_cancel, ADMIN_ACTION, canceled_evaluations),
    (post("classifier-train", {}), ADMIN_ACTION, classifier_pending),
]
NAMES = [r.__name__ for r, _, _ in MATRIX]


@pytest.mark.parametrize(("request_", "expected", "state"), MATRIX, ids=NAMES)
@pytest.mark.parametrize("persona", ["owner", "annotator", "reviewer", "outsider"])
def test_access_matrix(
    personas: Personas,
    target: Target,
    request_: Request,
    expected: dict[str, int],
    state: State | None,
    persona: str,
) -> None:
    before = state(target) if state else None
    assert request_(personas.client(persona), target).status_code == expected[persona]
    if state is not None:
        # Allowed requests take effect; refused ones leave no trace.
        changed = state(target) != before
        assert changed == (persona == "owner")


@pytest.mark.parametrize(("request_", "_expected", "_state"), MATRIX, ids=NAMES)
def test_it_sends_anonymous_users_to_log_in(
    personas: Personas, target: Target, request_: Request, _expected: object, _state: object
) -> None:
    response = request_(Client(), target)
    # Pages redirect to the login form; endpoints that page scripts call answer 401.
    assert response.status_code in (302, 401)
    if response.status_code == 302:
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(("request_", "_expected", "_state"), MATRIX, ids=NAMES)
def test_outsider_sees_the_same_404_as_for_a_missing_project(
    personas: Personas, target: Target, request_: Request, _expected: object, _state: object
) -> None:
    client = personas.client("outsider")
    existing = request_(client, target)
    missing_target = Target(target.project_id + 999, 1, 1, 1, 1, 1)
    missing = request_(client, missing_target)
    token = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')
    assert existing.status_code == missing.status_code == 404
    assert token.sub(b"", existing.content) == token.sub(b"", missing.content)
    assert b"Streets" not in existing.content


def test_huge_ids_are_a_plain_404(personas: Personas) -> None:
    response = personas.client("owner").get("/projects/99999999999999999999999/")
    assert response.status_code == 404


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
