"""Project membership: add by username, change role, remove (email: invitations)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from labeling.models import Membership, Project, Role
from labeling.services.errors import ServiceError


def check_role(role: str) -> str:
    if role not in Role.values:
        raise ServiceError(
            f"Unknown role {role!r}; use admin, annotator or reviewer.", field="role"
        )
    return role


def find_user(username: str) -> User:
    """An active user by exact username. Email addresses never find anyone here:
    they become invitations (services/invitations.py), so adding one cannot tell
    an admin whether its owner has an account."""
    username = username.strip()
    if not username:
        raise ServiceError("Enter a username or an email address.", field="user")
    user = User.objects.filter(is_active=True, username=username).first()
    if user is None:
        raise ServiceError(
            f"No active user has the username {username[:150]!r}. To invite someone "
            "without an account, enter their email address.",
            field="user",
        )
    return user


@transaction.atomic
def do_add_member(project: Project, username: str, role: str) -> Membership:
    check_role(role)
    user = find_user(username)
    _lock_project(project)
    if Membership.objects.filter(project=project, user=user).exists():
        raise ServiceError(f"{user.get_username()} is already a member.", field="user")
    return Membership.objects.create(project=project, user=user, role=role)


def _check_keeps_an_admin(membership: Membership) -> None:
    """A project must always have at least one admin, or nobody could manage it."""
    if membership.role != Role.ADMIN:
        return
    others = (
        Membership.objects.select_for_update()
        .filter(project_id=membership.project_id, role=Role.ADMIN)
        .exclude(pk=membership.pk)
    )
    if not others.exists():
        raise ServiceError("A project needs at least one admin. Make someone else admin first.")


@transaction.atomic
def do_change_role(project: Project, membership_id: int, role: str) -> Membership:
    check_role(role)
    _lock_project(project)
    membership = _locked_membership(project, membership_id)
    if role != Role.ADMIN:
        _check_keeps_an_admin(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def do_remove_member(project: Project, membership_id: int) -> None:
    _lock_project(project)
    membership = _locked_membership(project, membership_id)
    _check_keeps_an_admin(membership)
    membership.delete()


def _lock_project(project: Project) -> None:
    """Serialise membership changes per project. Taking this one lock first, always,
    means two admins demoting each other queue up instead of deadlocking, and the
    last-admin check sees the other's committed change."""
    Project.objects.select_for_update().get(pk=project.pk)


def _locked_membership(project: Project, membership_id: int) -> Membership:
    membership = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(project=project, pk=membership_id)
        .first()
    )
    if membership is None:
        raise ServiceError("That person is not a member of this project.")
    return membership
