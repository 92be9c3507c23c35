from __future__ import annotations


class ServiceError(Exception):
    """A request that cannot be carried out, with a message fit to show the user."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
