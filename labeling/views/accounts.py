"""Accounts without the Django admin: a throttled login, and invitation links.

Password change and reset are Django's views (labeling/urls.py) with our templates
(templates/registration/); the change is throttled like a login, the reset bounded.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import LoginView, PasswordChangeView, PasswordResetView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from labeling.forms import InvitedAccountForm, LoginForm, ResetForm, ThrottledPasswordChangeForm
from labeling.login_throttle import client_address
from labeling.models import Invitation
from labeling.services.errors import ServiceError
from labeling.services.invitations import (
    InvitationClosed,
    account_exists,
    do_accept,
    do_accept_with_new_account,
    open_invitation,
)

logger = logging.getLogger(__name__)


class ThrottledLoginView(LoginView):
    form_class = LoginForm

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)
        if form.pause is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.pause.seconds)
        return response


class ThrottledPasswordChangeView(PasswordChangeView):
    form_class = ThrottledPasswordChangeForm

    def get_form(self, form_class: Any = None) -> Any:
        form = super().get_form(form_class)
        assert isinstance(form, ThrottledPasswordChangeForm)  # form_class above
        form.address = client_address(self.request)
        return form

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)
        if form.pause is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.pause.seconds)
        return response


class BoundedPasswordResetView(PasswordResetView):
    form_class = ResetForm

    def form_valid(self, form: Any) -> HttpResponse:
        form.address = client_address(self.request)
        return super().form_valid(form)


@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The invitation link: join (logged in as the invited address), log in to
    join (it has an account), or make the account and join."""
    try:
        invited = open_invitation(token)
    except InvitationClosed as closed:
        return _closed(request, closed)
    user = request.user
    if user.is_authenticated:
        if request.method == "POST":
            try:
                membership = do_accept(token, user)
            except InvitationClosed as closed:
                return _closed(request, closed)
            messages.success(request, f"You joined {membership.project.name} as {membership.role}.")
            return redirect("project-detail", project_id=membership.project_id)
        if (user.email or "").casefold() != invited.email.casefold():
            return _closed(request, _wrong_account(invited, user.get_username()))
        return _page(request, invited, "join")
    if account_exists(invited.email):
        return _page(request, invited, "login")
    form = InvitedAccountForm(request.POST or None)
    form.instance.email = invited.email
    if request.method == "POST" and form.is_valid():
        try:
            new_user, membership = do_accept_with_new_account(
                token,
                form.cleaned_data["username"],
                form.cleaned_data["password1"],
                form.cleaned_data["first_name"],
            )
        except InvitationClosed as closed:
            return _closed(request, closed)
        except ServiceError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            login(request, new_user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                request,
                f"Welcome, {new_user.get_username()}: you joined {membership.project.name}.",
            )
            return redirect("project-detail", project_id=membership.project_id)
    return _page(request, invited, "create", form=form, status=400 if form.errors else 200)


def _wrong_account(invited: Invitation, username: str) -> InvitationClosed:
    return InvitationClosed(
        f"This invitation is for {invited.email}, and you are logged in as {username}. "
        "Log out, then open the link again, or log in as the account with that address.",
        403,
    )


def _page(
    request: HttpRequest, invited: Invitation, mode: str, status: int = 200, **extra: Any
) -> HttpResponse:
    login_url = f"{reverse('login')}?next={request.path}"
    context = {"invitation": invited, "mode": mode, "login_url": login_url, **extra}
    return _unlogged(render(request, "registration/invitation.html", context, status=status))


def _closed(request: HttpRequest, closed: InvitationClosed) -> HttpResponse:
    context = {"closed": closed.message, "logged_in_elsewhere": closed.status == 403}
    return _unlogged(render(request, "registration/invitation.html", context, status=closed.status))


def _unlogged(response: HttpResponse) -> HttpResponse:
    """Django logs every 4xx with its path, and this path holds a link's secret (a
    live one, for someone logged in as another user). Log the refusal without it."""
    if response.status_code >= 400:
        logger.info("Invitation link refused with %s", response.status_code)
        # Django's own flag for "already logged" (django.utils.log.log_response).
        response._has_been_logged = True  # type: ignore[attr-defined]
    return response
