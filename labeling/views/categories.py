from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from labeling.forms import CategoryForm
from labeling.permissions import Ability, project_access
from labeling.services.categories import (
    do_create_category,
    do_delete_category,
    do_update_category,
)
from labeling.services.errors import ServiceError
from labeling.views import AuthedRequest


@login_required
@require_http_methods(["GET", "POST"])
def categories(request: AuthedRequest, project_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    form = CategoryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            do_create_category(access.project, **form.cleaned_data)
        except ServiceError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, f"Added category {form.cleaned_data['name']!r}.")
            return redirect("project-categories", project_id=project_id)
    context = {
        "access": access,
        "project": access.project,
        "form": form,
        "categories": access.project.categories.all(),
    }
    return render(request, "labeling/categories.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def category_update(request: AuthedRequest, project_id: int, category_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    form = CategoryForm(request.POST)
    try:
        if not form.is_valid():
            raise ServiceError("; ".join(str(e) for errs in form.errors.values() for e in errs))
        data = form.cleaned_data
        do_update_category(
            access.project,
            category_id,
            name=data["name"],
            color=data["color"],
            order=data["order"] or 0,
        )
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Saved category {form.cleaned_data['name']!r}.")
    return redirect("project-categories", project_id=project_id)


@login_required
@require_POST
def category_delete(request: AuthedRequest, project_id: int, category_id: int) -> HttpResponse:
    access = project_access(request.user, project_id, Ability.MANAGE)
    try:
        do_delete_category(access.project, category_id)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Category deleted.")
    return redirect("project-categories", project_id=project_id)
