from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from labeling.forms import AddMemberForm, RoleForm
from labeling.permissions import Ability, project_access
from labeling.services.errors import ServiceError
from labeling.services.members import do_add_member, do_change_role, do_remove_member
from labeling.views import AuthedRequest


@login_required
@require_http_methods(["GET", "POST"])
def members(request: AuthedRequest, project_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    form = AddMemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            added = do_add_member(
                access.project, form.cleaned_data["user"], form.cleaned_data["role"]
            )
        except ServiceError as error:
            form.add_error(error.field, error.message)
        else:
            messages.success(request, f"Added {added.user.get_username()} as {added.role}.")
            return redirect("project-members", project_id=project_id)
    memberships = access.project.memberships.select_related("user")
    context = {
        "access": access,
        "project": access.project,
        "form": form,
        "memberships": memberships,
    }
    return render(request, "labeling/members.html", context, status=400 if form.errors else 200)


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
