"""The account page's API tokens: make one (shown once), list them, revoke one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from labeling.services.errors import ServiceError
from labeling.services.tokens import DEFAULT_LIFETIME, do_create_token, do_revoke_token
from labeling.views import AuthedRequest


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: AuthedRequest) -> HttpResponse:
    error, new_token = None, None
    if request.method == "POST":
        try:
            _row, new_token = do_create_token(
                request.user,
                request.POST.get("name", ""),
                request.POST.get("lifetime", DEFAULT_LIFETIME),
            )
        except ServiceError as refused:
            error = refused.message
    context = {
        "tokens": request.user.api_tokens.all(),
        "now": timezone.now(),
        "new_token": new_token,
        "error": error,
    }
    response = render(request, "labeling/tokens.html", context, status=400 if error else 200)
    # The page may show a token that exists nowhere else: keep it out of every cache.
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def token_revoke(request: AuthedRequest, token_id: int) -> HttpResponse:
    try:
        do_revoke_token(request.user, token_id)
    except ServiceError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, "Token revoked: scripts using it now get 401.")
    return redirect("api-tokens")
