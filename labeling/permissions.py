"""Who may do what in a project. The one place access is decided.

HTTP views and websocket consumers both call `project_access`. Non-members get
`ProjectNotFound`, which views turn into the same 404 a missing project gives, so
a response never reveals whether a project exists. Members without the ability get
`PermissionDenied` (403): they already know the project exists.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from labeling.models import AnnotationStatus, Membership, Project, Role


class Ability(enum.Enum):
    VIEW = "view"  # see the project, its images and masks
    ANNOTATE = "annotate"  # create and edit masks
    REVIEW = "review"  # approve or reject masks
    MANAGE = "manage"  # members, categories, uploads, settings, exports
    VIEW_QUALITY = "view_quality"  # the Model quality tab: evaluation runs and figures
    TRAIN = "train"  # fine-tune the model, adopt or roll back a version (admins)


ROLE_ABILITIES: dict[str, frozenset[Ability]] = {
    Role.ADMIN: frozenset(Ability),
    Role.ANNOTATOR: frozenset({Ability.VIEW, Ability.ANNOTATE}),
    Role.REVIEWER: frozenset({Ability.VIEW, Ability.REVIEW, Ability.VIEW_QUALITY}),
}


# Mask statuses people set by hand, and the ability each needs; "proposed" belongs
# to machine proposals. The socket and the API both ask `ability_to_set`.
STATUS_ABILITIES: dict[str, Ability] = {
    AnnotationStatus.DRAFT: Ability.ANNOTATE,
    AnnotationStatus.SUBMITTED: Ability.ANNOTATE,
    AnnotationStatus.APPROVED: Ability.REVIEW,
    AnnotationStatus.REJECTED: Ability.REVIEW,
}


def ability_to_set(status: object) -> Ability | None:
    """The ability that setting a mask to `status` needs; None for no such status."""
    return STATUS_ABILITIES.get(status) if isinstance(status, str) else None


class UnsettableStatus(ValueError):
    """A mask status nobody sets by hand (or no status at all)."""


UNCHANGED: object = object()  # `abilities_for_change(status=...)`: the status stays


def abilities_for_change(
    *,
    shape: bool = False,
    category: bool = False,
    status: object = UNCHANGED,
    comment: bool = False,
) -> list[Ability]:
    """Every ability a change to a mask needs, whichever transport asks (the socket and
    the API): its shape or category need annotating, a verdict (approved, rejected)
    or a review comment reviewing. Sorted; empty for no change at all. Raises
    `UnsettableStatus` for a status nobody may set (None included)."""
    needs: set[Ability] = set()
    if shape or category:
        needs.add(Ability.ANNOTATE)
    if status is not UNCHANGED:
        ability = ability_to_set(status)
        if ability is None:
            raise UnsettableStatus(
                f"`status` must be one of {', '.join(sorted(STATUS_ABILITIES))}."
            )
        needs.add(ability)
    if comment:
        needs.add(Ability.REVIEW)
    return sorted(needs, key=lambda a: a.value)


class ProjectNotFound(Http404):
    """Not a member, or no such project: deliberately indistinguishable."""


@dataclass(frozen=True)
class Access:
    project: Project
    membership: Membership

    @property
    def role(self) -> str:
        return self.membership.role

    def can(self, ability: Ability) -> bool:
        return ability in ROLE_ABILITIES.get(self.role, frozenset())

    def require(self, abilities: list[Ability]) -> None:
        """Raise `PermissionDenied` unless the role has every one of `abilities`."""
        for ability in abilities:
            if not self.can(ability):
                raise PermissionDenied(
                    f"Your role ({self.role}) cannot {ability.value} this project."
                )

    @property
    def abilities(self) -> list[str]:
        """What the role may do, by name: sent to pages so they copy no role table."""
        return sorted(a.value for a in ROLE_ABILITIES.get(self.role, frozenset()))


def project_access(
    user: AbstractBaseUser | AnonymousUser, project_id: int, ability: Ability = Ability.VIEW
) -> Access:
    """Return the user's access to a project, or raise if they may not do `ability`."""
    if not user.is_authenticated or not user.is_active:
        raise ProjectNotFound("No such project.")
    membership = (
        Membership.objects.select_related("project")
        .filter(project_id=project_id, user_id=user.pk)
        .first()
    )
    if membership is None:
        raise ProjectNotFound("No such project.")
    access = Access(project=membership.project, membership=membership)
    access.require([ability])
    return access
