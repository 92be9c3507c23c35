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
