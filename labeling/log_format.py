"""Log formatters named in settings.LOGGING (ANYMASK_LOG_FORMAT=json|text)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request or socket
    id when there is one, and the traceback as a string. A log collector parses it
    without a pattern, and a multi-line traceback stays one record."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "socket_id", "status_code"):
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, default=str)


class TextWithIds(logging.Formatter):
    """The plain message, prefixed with the request or socket id when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        rid, sid = getattr(record, "request_id", None), getattr(record, "socket_id", None)
        if rid:
            return f"[request {rid}] {text}"
        if sid:
            return f"[socket {sid}] {text}"
        return text
