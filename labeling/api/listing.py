"""Allow-listed filters and sorting for the API's lists.

A list declares its filters as a Schema, and `sort` as a Literal of the orderings
it allows, so the OpenAPI schema names them and pydantic refuses other values. A
query parameter a list does not declare (say `created_by__password`) is refused with
400 instead of being ignored: a script with a typo must not get the whole table.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Schema
from ninja.errors import HttpError

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
