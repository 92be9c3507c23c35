"""Small HTTP faults from the probe: paging past bigint, and 403s that flooded the log."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from labeling.api.main import api
from tests.api_helpers import api_for
from tests.conftest import Personas


def list_paths(project_id: int) -> list[str]:
    """Every list in the API: each GET operation that takes `offset`."""
    schema = api.get_openapi_schema()
    paths = []
    for path, operations in schema["paths"].items():
        parameters = operations.get("get", {}).get("parameters", [])
        if any(p["name"] == "offset" for p in parameters):
            paths.append(path.removeprefix("/api/v1").replace("{project_id}", str(project_id)))
    return paths


def test_every_list_is_found(personas: Personas) -> None:
    # The lists below are checked one by one; none may slip past by being renamed.
    found = list_paths(personas.project.pk)
    assert len(found) >= 5 and all("{" not in path for path in found), found


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"offset": 9223372036854775808}, "offset must be between 0 and"),
        ({"offset": 10**40}, "offset must be between 0 and"),
        ({"offset": -1}, "offset must be between 0 and"),
        ({"limit": -5}, "limit must be between 1 and 500"),
        ({"limit": 0}, "limit must be between 1 and 500"),
        ({"limit": 9223372036854775808}, "limit must be between 1 and 500"),
    ],
)
def test_it_refuses_paging_out_of_range_on_every_list_with_400_json(
    personas: Personas, query: dict[str, Any], says: str
) -> None:
    client = api_for(personas.owner)
    for path in list_paths(personas.project.pk):
        response = client.get(path, **query)
        assert response.status_code == 400, (path, response.content[:200])
        assert response["Content-Type"].startswith("application/json")
        assert says in response.json()["detail"], path


def test_paging_in_range_still_works_at_the_edges(personas: Personas) -> None:
    client = api_for(personas.owner)
    for path in list_paths(personas.project.pk):
        response = client.get(path, limit=500, offset=1_000_000_000)
        assert response.status_code == 200, path
        assert response.json()["items"] == []


def test_a_403_is_logged_as_one_line_without_a_traceback(
    personas: Personas, capsys: pytest.CaptureFixture[str]
) -> None:
    # Through the configured handler (settings.LOGGING), as in production.
    handler = logging.getLogger().handlers[0]
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(handler.format(record) if handler.filter(record) else "")

    keep = Keep()
    logging.getLogger("django.request").addHandler(keep)
    try:
        response = personas.client("annotator").get(f"/projects/{personas.project.pk}/members/")
    finally:
        logging.getLogger("django.request").removeHandler(keep)
    assert response.status_code == 403
    forbidden = [line for line in records if "Forbidden" in line]
    assert len(forbidden) == 1
    assert "Traceback" not in forbidden[0] and "\n" not in forbidden[0]
    assert f"/projects/{personas.project.pk}/members/" in forbidden[0]


def test_a_500_still_logs_its_traceback() -> None:
    # The filter quietens refusals only: a real error keeps everything it needs.
    handler = logging.getLogger().handlers[0]
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.getLogger("django.request").makeRecord(
            "django.request", logging.ERROR, __file__, 1, "Internal Server Error: /x",
            (), __import__("sys").exc_info(), extra={"status_code": 500},
        )  # fmt: skip
    assert handler.filter(record)
    assert "Traceback" in handler.format(record)
