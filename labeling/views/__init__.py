"""Thin HTTP views: parse the request, call `permissions` and `services`, render."""

from django.contrib.auth.models import User
from django.http import HttpRequest


class AuthedRequest(HttpRequest):
    """A request behind @login_required: `user` is a real, logged-in user."""

    user: User
