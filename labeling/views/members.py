from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from labeling.forms import AddMemberForm, RoleForm
from labeling.models import InvitationStatus
from labeling.permissions import Ability, project_access
from labeling.services.errors import ServiceError
from labeling.services.invitations import Sent, do_invite, do_resend, do_revoke, is_email
from labeling.services.members import do_add_member, do_change_role, do_remove_member
from labeling.views import AuthedRequest

# The session key of the link made by the last invite or resend, shown once.
NEW_LINK = "anymask-new-invitation"


@login_required
@require_http_methods(["GET", "POST"])
def members(request: AuthedRequest, project_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    form = AddMemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        identifier, role = form.cleaned_data["user"], form.cleaned_data["role"]
        try:
            if is_email(identifier):
                # Whether the address has an account or not, the answer is the same.
                sent = do_invite(access.project, request.user, identifier, role, _site(request))
                _show_once(request, sent)
            else:
                added = do_add_member(access.project, identifier, role)
                messages.success(request, f"Added {added.user.get_username()} as {added.role}.")
        except ServiceError as error:
            form.add_error(error.field, error.message)
        else:
            return redirect("project-members", project_id=project_id)
    context = {
        "access": access,
        "project": access.project,
        "form": form,
        "memberships": access.project.memberships.select_related("user"),
        "invitations": access.project.invitations.filter(
            status=InvitationStatus.PENDING
        ).select_related("invited_by"),
        "new_link": request.session.pop(NEW_LINK, None),
        "email_configured": bool(settings.EMAIL_HOST),
        "invitation_days": settings.ANYMASK_INVITATION_DAYS,
        "now": timezone.now(),
    }
    return render(request, "labeling/members.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def invitation_resend(request: AuthedRequest, project_id: int, invitation_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    try:
        sent = do_resend(access.project, request.user, invitation_id, _site(request))
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        _show_once(request, sent)
    return redirect("project-members", project_id=project_id)


@login_required
@require_POST
def invitation_revoke(request: AuthedRequest, project_id: int, invitation_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    try:
        revoked = do_revoke(access.project, invitation_id)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Revoked the invitation to {revoked.email}; its link is dead.")
    return redirect("project-members", project_id=project_id)


def _site(request: AuthedRequest) -> str:
    return request.build_absolute_uri("/")


def _show_once(request: AuthedRequest, sent: Sent) -> None:
    invitation = sent.invitation
    how = "emailed to" if settings.EMAIL_HOST else "made for"
    messages.success(
        request, f"Invitation {how} {invitation.email} as {invitation.role}: copy its link below."
    )
    # In the session, not the message cookie, and popped by the next page: shown once.
    request.session[NEW_LINK] = {"email": invitation.email, "link": sent.link}


@login_required
@require_POST
def member_role(request: AuthedRequest, project_id: int, membership_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    form = RoleForm(request.POST)
    try:
        if not form.is_valid():
            raise ServiceError("Choose admin, annotator or reviewer.")
        changed = do_change_role(access.project, membership_id, form.cleaned_data["role"])
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{changed.user.get_username()} is now {changed.role}.")
        if changed.user_id == request.user.pk and changed.role != "admin":
            # You just gave up the right to see this page.
            return redirect("project-detail", project_id=project_id)
    return redirect("project-members", project_id=project_id)


@login_required
@require_POST
def member_remove(request: AuthedRequest, project_id: int, membership_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    removing_myself = access.membership.pk == membership_id
    try:
        do_remove_member(access.project, membership_id)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        if removing_myself:
            messages.success(request, f"You left {access.project.name}.")
            return redirect("project-list")
        messages.success(request, "Removed from the project.")
    return redirect("project-members", project_id=project_id)
