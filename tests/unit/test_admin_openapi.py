"""The admin API's OpenAPI document stays in step with its route table."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.admin.openapi import OPERATIONS, build_openapi


def routes() -> list[tuple[str, str, Any]]:
    return [(method, path, None) for method, path in OPERATIONS]


def test_every_route_is_described_with_problem_responses() -> None:
    document = build_openapi("https://gerbang.example", routes())
    assert document["openapi"] == "3.1.0"
    for method, path in OPERATIONS:
        operation = document["paths"][path][method.lower()]
        assert operation["responses"]["403"]["content"]["application/problem+json"]
        for name in ("slug", "id", "client_id", "action"):
            if "{" + name + "}" in path:
                assert any(p["name"] == name and p["in"] == "path" for p in operation["parameters"])
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_an_undocumented_route_stops_start_up() -> None:
    with pytest.raises(RuntimeError, match="GET /secret"):
        build_openapi("https://gerbang.example", [*routes(), ("GET", "/secret", None)])
