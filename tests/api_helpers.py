"""Helpers for the API tests: a token per persona and a client that sends it."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from labeling.services.tokens import do_create_token

API = "/api/v1"


class ApiClient:
    """Django's test client, speaking JSON and sending `Authorization: Bearer`."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        send = getattr(self.client, method.lower())
        if method in ("GET", "DELETE"):
            # DELETE takes its version in the query string, as GET takes filters.
            query = "&".join(f"{k}={v}" for k, v in (body or {}).items())
            url = f"{API}{path}" + (f"?{query}" if query else "")
            return send(url, headers=self.headers)
        return send(
            f"{API}{path}", json.dumps(body or {}), content_type="application/json",
            headers=self.headers,
        )  # fmt: skip

    def get(self, path: str, **query: Any) -> Any:
        return self.call("GET", path, query)

    def upload(self, path: str, files: dict[str, bytes]) -> Any:
        parts = [SimpleUploadedFile(name, data) for name, data in files.items()]
        return self.client.post(f"{API}{path}", {"files": parts}, headers=self.headers)


def api_for(user: User | None) -> ApiClient:
    if user is None:
        return ApiClient(None)
    _row, token = do_create_token(user, "tests")
    return ApiClient(token)
