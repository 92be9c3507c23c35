"""Logging filters, named in settings.LOGGING."""

from __future__ import annotations

import logging


class QuietForbidden(logging.Filter):
    """A 403 is one line, never a traceback.

    Django logs every PermissionDenied with the exception attached, so each refusal
    (a reviewer opening the members page, a stale tab) printed a full traceback and
    buried the real errors. The line keeps the method, path and status; the
    traceback says nothing a refusal needs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True


class WithContextIds(logging.Filter):
    """Puts the current request id and socket id (labeling/log_context.py) on every
    record, None outside a request or socket, for the formatters to print."""

    def filter(self, record: logging.LogRecord) -> bool:
        from labeling import log_context

        record.request_id = log_context.request_id.get()
        record.socket_id = log_context.socket_id.get()
        return True
