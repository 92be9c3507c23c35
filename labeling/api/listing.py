"""Allow-listed filters and sorting for the API's lists.

A list declares its filters as a Schema, and `sort` as a Literal of the orderings
it allows, so the OpenAPI schema names them and pydantic refuses other values. A
query parameter a list does not declare (say `created_by__password`) is refused with
400 instead of being ignored: a script with a typo must not get the whole table.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Schema
from ninja.errors import HttpError
from ninja.pagination import LimitOffsetPagination

PAGING = frozenset({"limit", "offset"})


def refuse_unknown(request: HttpRequest, filters: type[Schema]) -> None:
    allowed = PAGING | {field.alias or name for name, field in filters.model_fields.items()}
    unknown = sorted(set(request.GET) - allowed)
    if unknown:
        raise HttpError(
            400,
            f"Unknown query parameter {unknown[0][:60]!r}. "
            f"This list takes: {', '.join(sorted(allowed))}.",
        )


def apply(queryset: QuerySet[Any], filters: Schema, lookups: dict[str, str]) -> QuerySet[Any]:
    """Filter by the given fields (`lookups` maps a filter to its ORM lookup) and sort.

    Only filters named in `lookups` reach the ORM, and the schema's own types have
    already checked their values; the sort always ends on the id, so pages are stable.
    """
    for name, lookup in lookups.items():
        value = getattr(filters, name)
        if value is not None:
            queryset = queryset.filter(**{lookup: value})
    sort = getattr(filters, "sort", "id")
    tie = "-id" if sort.startswith("-") else "id"
    return queryset.order_by(sort, tie) if sort.lstrip("-") != "id" else queryset.order_by(sort)


# Past a billion rows a page is never what a script meant, and both numbers stay far
# below the database's bigint, whose overflow was an HTML 500.
MAX_OFFSET = 1_000_000_000


class BoundedLimitOffset(LimitOffsetPagination):
    """django-ninja's limit/offset pagination for every list (NINJA_PAGINATION_CLASS),
    with both numbers checked here: out of range is a 400 that says the range.

    The fields are plain integers so pydantic accepts any size; the bounds are
    checked below (and still published in the OpenAPI schema).
    """

    class Input(Schema):
        limit: int = Field(
            settings.NINJA_PAGINATION_PER_PAGE,
            json_schema_extra={"minimum": 1, "maximum": settings.NINJA_PAGINATION_MAX_LIMIT},
        )
        offset: int = Field(0, json_schema_extra={"minimum": 0, "maximum": MAX_OFFSET})

    def paginate_queryset(
        self, queryset: QuerySet[Any], pagination: Any, request: HttpRequest, **params: Any
    ) -> Any:
        check_page(pagination.limit, pagination.offset)
        return super().paginate_queryset(queryset, pagination, request, **params)


def check_page(limit: int, offset: int) -> None:
    most = settings.NINJA_PAGINATION_MAX_LIMIT
    if not 1 <= limit <= most:
        raise HttpError(400, f"limit must be between 1 and {most}, got {_short(limit)}.")
    if not 0 <= offset <= MAX_OFFSET:
        raise HttpError(400, f"offset must be between 0 and {MAX_OFFSET}, got {_short(offset)}.")


def _short(number: int) -> str:
    text = str(number)
    return text if len(text) <= 24 else f"{text[:20]}…"
