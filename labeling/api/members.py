"""A project's members and invitations, for its admins.

Members come with usernames, display names and roles. Email addresses are not
project data: an admin of a project they made could otherwise harvest the address
of anyone they add, so `email` is given only for the caller themself, or to site
staff. Invitations are the members page's (labeling/services/invitations.py): the
link is in the answer that makes it, once, and emailed when email is configured.
"""

from datetime import datetime
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from labeling.api.auth import user_of
from labeling.api.listing import apply, refuse_unknown
from labeling.api.schemas import FAILS, PathId
from labeling.models import Invitation, InvitationStatus, Membership
from labeling.permissions import Ability, project_access
from labeling.services.invitations import Sent, do_invite, do_resend, do_revoke

router = Router(tags=["members"])


class MemberOut(Schema):
    username: str
    display_name: str
    role: str
    email: str | None

    @staticmethod
    def resolve_username(obj: Membership) -> str:
        return obj.user.get_username()

    @staticmethod
    def resolve_display_name(obj: Membership) -> str:
        return obj.user.get_full_name()

    @staticmethod
    def resolve_email(obj: Membership, context: dict[str, Any]) -> str | None:
        caller = context["request"].user
        shown = caller.is_staff or obj.user_id == caller.pk
        return (obj.user.email or None) if shown else None


class MemberFilters(Schema):
    role: Literal["admin", "annotator", "reviewer"] | None = None
    sort: Literal["id", "-id", "user__username", "-user__username"] = "user__username"


@router.get("/projects/{project_id}/members", response={200: list[MemberOut], **FAILS})
@paginate
def list_members(
    request: HttpRequest, project_id: PathId, filters: Query[MemberFilters]
) -> QuerySet[Membership]:
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    refuse_unknown(request, MemberFilters)
    memberships = access.project.memberships.select_related("user")
    return apply(memberships, filters, {"role": "role"})


class InvitationOut(Schema):
    id: int
    email: str
    role: str
    status: str
    expires_at: datetime
    invited_by: str | None

    @staticmethod
    def resolve_invited_by(obj: Invitation) -> str | None:
        return obj.invited_by.get_username() if obj.invited_by else None


class NewInvitationOut(InvitationOut):
    link: str

    @staticmethod
    def resolve_link(obj: Invitation, context: dict[str, Any]) -> str:
        return str(context["link"])


class InvitationIn(Schema):
    email: str = Field(max_length=254, description="Checked as an email address.")
    role: Literal["admin", "annotator", "reviewer"] = "annotator"


@router.get("/projects/{project_id}/invitations", response={200: list[InvitationOut], **FAILS})
@paginate
def list_invitations(request: HttpRequest, project_id: PathId) -> QuerySet[Invitation]:
    """Pending invitations (expired ones too, until resent or revoked)."""
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    refuse_unknown(request, _NoFilters)
    pending = access.project.invitations.filter(status=InvitationStatus.PENDING)
    return pending.select_related("invited_by").order_by("-created_at", "-id")


class _NoFilters(Schema):
    pass


@router.post("/projects/{project_id}/invitations", response={201: NewInvitationOut, **FAILS})
def create_invitation(
    request: HttpRequest, project_id: PathId, body: InvitationIn
) -> Status[NewInvitationOut]:
    """Invite an address (whether or not it has an account: the answer is the same).
    `link` is given only here and by a resend."""
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    sent = do_invite(access.project, user_of(request), body.email, body.role, _site(request))
    return Status(201, _with_link(sent))


@router.post(
    "/projects/{project_id}/invitations/{invitation_id}/resend",
    response={200: NewInvitationOut, **FAILS},
)
def resend_invitation(
    request: HttpRequest, project_id: PathId, invitation_id: PathId
) -> NewInvitationOut:
    """A new link and expiry; the old link stops working."""
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    get_object_or_404(Invitation, project=access.project, pk=invitation_id)
    return _with_link(do_resend(access.project, user_of(request), invitation_id, _site(request)))


@router.delete("/projects/{project_id}/invitations/{invitation_id}", response={204: None, **FAILS})
def revoke_invitation(
    request: HttpRequest, project_id: PathId, invitation_id: PathId
) -> Status[None]:
    access = project_access(user_of(request), project_id, Ability.MANAGE)
    # Another project's invitation id is a 404, like a missing one.
    get_object_or_404(Invitation, project=access.project, pk=invitation_id)
    do_revoke(access.project, invitation_id)
    return Status(204, None)


def _site(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


def _with_link(sent: Sent) -> NewInvitationOut:
    return NewInvitationOut.from_orm(sent.invitation, context={"link": sent.link})
