"""Invitations: a project admin invites an email address with a role; the link
lets its holder set a password (a new account) or log in, and join.

The link's token is shown once and sent by email; only its digest is kept. A link
works once, until ANYMASK_INVITATION_DAYS after it was made. Resending makes a new
link (the old one then says it was replaced); revoking closes it. Inviting an
address that already has an account makes an invitation just the same, so the
answer never tells an admin whether an account exists: its owner logs in to join.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from labeling.models import Invitation, InvitationStatus, Membership, Project
from labeling.services.errors import ServiceError
from labeling.services.members import check_role

logger = logging.getLogger(__name__)

MAX_PENDING_PER_PROJECT = 500


class InvitationClosed(ServiceError):
    """The link opens nothing; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Sent:
    invitation: Invitation
    link: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_email(email: str) -> str:
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ServiceError(f"{email[:80]!r} is not an email address.", field="user") from None
    return email


def is_email(identifier: str) -> bool:
    try:
        validate_email(identifier.strip())
    except ValidationError:
        return False
    return True


@transaction.atomic
def do_invite(project: Project, inviter: User, email: str, role: str, site_url: str) -> Sent:
    """Invite `email` as `role`; an open invitation to the same address is replaced.
    The email goes out after commit; the link is returned to show once."""
    check_role(role)
    email = check_email(email)
    Project.objects.select_for_update().get(pk=project.pk)
    pending = Invitation.objects.filter(project=project, status=InvitationStatus.PENDING)
    _replace(pending.filter(email__iexact=email))
    if pending.count() >= MAX_PENDING_PER_PROJECT:
        raise ServiceError(
            f"This project already has {MAX_PENDING_PER_PROJECT} open invitations; "
            "revoke some first.",
            field="user",
        )
    return _make(project, inviter, email, role, site_url)


@transaction.atomic
def do_resend(project: Project, inviter: User, invitation_id: int, site_url: str) -> Sent:
    """A new link for a pending (or expired) invitation; the old link stops working."""
    old = _locked(project, invitation_id)
    if old.status != InvitationStatus.PENDING:
        raise ServiceError(f"That invitation was {old.status}; invite the address again.")
    _replace(Invitation.objects.filter(pk=old.pk))
    return _make(project, inviter, old.email, old.role, site_url)


@transaction.atomic
def do_revoke(project: Project, invitation_id: int) -> Invitation:
    invitation = _locked(project, invitation_id)
    if invitation.status != InvitationStatus.PENDING:
        raise ServiceError(f"That invitation was already {invitation.status}.")
    invitation.status = InvitationStatus.REVOKED
    invitation.closed_at = timezone.now()
    invitation.save(update_fields=["status", "closed_at"])
    return invitation


def open_invitation(token: str) -> Invitation:
    """The pending, unexpired invitation a link's token names, or InvitationClosed
    with a message saying why not and what to do."""
    invitation = (
        Invitation.objects.select_related("project", "invited_by")
        .filter(token_hash=_digest(token[:100]))
        .first()
    )
    if invitation is None:
        raise InvitationClosed(
            "This invitation link is not valid. Check that you copied all of it, or ask "
            "the project's admin to send it again.",
            404,
        )
    closed = {
        InvitationStatus.ACCEPTED: "This invitation has already been used. Log in to open "
        "the project.",
        InvitationStatus.REVOKED: "This invitation was withdrawn by the project's admin.",
        InvitationStatus.REPLACED: "This link was replaced by a newer invitation. Use the "
        "most recent one you received.",
    }
    if invitation.status in closed:
        raise InvitationClosed(closed[InvitationStatus(invitation.status)], 410)
    if invitation.expires_at <= timezone.now():
        raise InvitationClosed(
            f"This invitation expired on {invitation.expires_at:%Y-%m-%d %H:%M} UTC. Ask the "
            "project's admin to send it again.",
            410,
        )
    return invitation


def account_exists(email: str) -> bool:
    """Whether an active account uses this address (asked only for the link's
    holder, who owns the address)."""
    return User.objects.filter(is_active=True, email__iexact=email).exists()


@transaction.atomic
def do_accept(token: str, user: User) -> Membership:
    """Join the invitation's project as `user`, whose email must be the invited one."""
    invitation = _locked_open(token)
    if user.email.strip().casefold() != invitation.email.casefold():
        raise InvitationClosed(
            f"This invitation is for {invitation.email}, and you are logged in as "
            f"{user.get_username()}. Log out, then open the link again, or log in as "
            "the account with that address.",
            403,
        )
    membership = Membership.objects.filter(project=invitation.project, user=user).first()
    if membership is None:
        membership = Membership.objects.create(
            project=invitation.project, user=user, role=invitation.role
        )
    invitation.status = InvitationStatus.ACCEPTED
    invitation.accepted_by = user
    invitation.closed_at = timezone.now()
    invitation.save(update_fields=["status", "accepted_by", "closed_at"])
    return membership


@transaction.atomic
def do_accept_with_new_account(
    token: str, username: str, password: str, first_name: str = ""
) -> tuple[User, Membership]:
    """Make the invited person's account (password already validated by the form)
    and join. An address that has an account already must log in instead."""
    invitation = _locked_open(token)
    if account_exists(invitation.email):
        raise ServiceError(
            f"An account already uses {invitation.email}. Log in to it to join.", field="username"
        )
    if User.objects.filter(username__iexact=username).exists():
        raise ServiceError("That username is taken; choose another.", field="username")
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                username, invitation.email, password, first_name=first_name.strip()[:150]
            )
    except IntegrityError:
        raise ServiceError("That username is taken; choose another.", field="username") from None
    return user, do_accept(token, user)


def _locked_open(token: str) -> Invitation:
    invitation = open_invitation(token)
    # Locked and read again, so two tabs cannot both use one link.
    locked = Invitation.objects.select_for_update().select_related("project").get(pk=invitation.pk)
    if locked.status != InvitationStatus.PENDING:
        return open_invitation(token)  # raises with the reason
    return locked


def _locked(project: Project, invitation_id: int) -> Invitation:
    invitation = (
        Invitation.objects.select_for_update().filter(project=project, pk=invitation_id).first()
    )
    if invitation is None:
        raise ServiceError("No such invitation in this project.")
    return invitation


def _replace(invitations: QuerySet[Invitation]) -> None:
    invitations.update(status=InvitationStatus.REPLACED, closed_at=timezone.now())


def _make(project: Project, inviter: User, email: str, role: str, site_url: str) -> Sent:
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        project=project,
        email=email,
        role=role,
        token_hash=_digest(token),
        invited_by=inviter,
        expires_at=timezone.now() + timedelta(days=settings.ANYMASK_INVITATION_DAYS),
    )
    link = site_url.rstrip("/") + reverse("invitation", args=[token])

    def send() -> None:
        _send(invitation, inviter, link)

    transaction.on_commit(send)
    return Sent(invitation, link)


def _send(invitation: Invitation, inviter: User, link: str) -> None:
    """The email, after commit. A mail server that fails is logged; the admin still
    has the link to copy, which the page always shows."""
    project = invitation.project.name
    body = (
        f"{inviter.get_username()} invited you to the project {project!r} on Anymask, "
        f"as {invitation.role}.\n\n"
        f"Open this link to set a password and join (or log in, if you already have an "
        f"account with this address):\n\n{link}\n\n"
        f"The link works once and expires on {invitation.expires_at:%Y-%m-%d %H:%M} UTC.\n"
        "If you did not expect this, ignore this email.\n"
    )
    try:
        send_mail(f"Invitation to {project} on Anymask", body, None, [invitation.email])
    except Exception:
        logger.warning("Invitation %s: the email could not be sent", invitation.pk, exc_info=True)
