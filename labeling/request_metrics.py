"""ASGI middleware: each HTTP request counted by method and status, and timed."""

from __future__ import annotations

import time
from typing import Any


class RequestMetrics:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from labeling import metrics

        started = time.perf_counter()
        status = {"code": 500}  # what the client sees when the app raised before answering

        async def send_seen(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        method = metrics.method_label(str(scope.get("method", "")))
        try:
            await self.app(scope, receive, send_seen)
        finally:
            metrics.REQUESTS.labels(method, str(status["code"])).inc()
            metrics.REQUEST_SECONDS.labels(method).observe(time.perf_counter() - started)
