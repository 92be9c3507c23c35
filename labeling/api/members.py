"""A project's members, for its admins: usernames, display names and roles.

Email addresses are not project data: an admin of a project they made could
otherwise harvest the address of anyone they add. `email` is given only for the
caller themself, or to site staff.
"""

from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.pagination import paginate

from labeling.api.auth import user_of
from labeling.api.listing import apply, refuse_unknown
from labeling.api.schemas import FAILS, PathId
from labeling.models import Membership
from labeling.permissions import Ability, project_access

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
