"""The admin API's input rules without a server: the query table, and the text patterns that the OpenAPI
document publishes (read by schemathesis and clients with Python/ECMAScript regexes) and pydantic enforces (a
Rust regex) — they must accept exactly the same strings."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from gateway.admin.bodies import LINE, PARAGRAPH, Reason, RoleGrant
from gateway.admin.openapi import OPERATIONS
from gateway.admin.request_input import MAX_OFFSET, QUERY, TEXT_PATTERN
from gateway.errors import BadRequest

EDGES = [
    " ",
    "\t",
    "\n",
    "\r",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x85",
    "\xa0",
    "\u1680",
    "\u2000",
    "\u200a",
    "\u2028",
    "\u202f",
    "\u205f",
    "\u3000",
    "\ufeff",
    "\u200b",
    "\x00",
    "\x7f",
    "é",
    "x",
]


@pytest.mark.parametrize("char", EDGES)
def test_body_patterns_mean_the_same_in_python_and_pydantic(char: str) -> None:
    for text, pattern, model in (
        (f"{char}grant", LINE, lambda v: RoleGrant(opd=v, role="operator")),
        (f"grant{char}", LINE, lambda v: RoleGrant(opd=v, role="operator")),
        (f"ab{char}cd", LINE, lambda v: RoleGrant(opd=v, role="operator")),
        (f"{char}reason", PARAGRAPH, lambda v: Reason(reason=v)),
        (f"rea{char}son", PARAGRAPH, lambda v: Reason(reason=v)),
    ):
        published = re.fullmatch(pattern, text) is not None
        try:
            model(text)
            enforced = True
        except ValidationError:
            enforced = False
        assert published == enforced, (text, pattern)


def test_query_values_are_typed_and_bounded() -> None:
    assert QUERY["offset"].read(str(MAX_OFFSET)) == MAX_OFFSET
    for key, raw in (
        ("offset", str(MAX_OFFSET + 1)),
        ("limit", "0"),
        ("limit", "²"),
        ("limit", " 5"),
        ("offset", "9" * 5000),
        ("match", "Prefix"),
        ("q", "a\x00"),
        ("q", "x" * 201),
        ("nik", "1" * 17),
    ):
        with pytest.raises(BadRequest):
            QUERY[key].read(raw)
    assert QUERY["q"].read("Siti Aminah") == "Siti Aminah"
    assert QUERY["q"].json_schema()["pattern"] == TEXT_PATTERN


def test_every_documented_query_parameter_is_in_the_table() -> None:
    for (method, path), operation in OPERATIONS.items():
        names = operation.query_names()
        assert len(names) == len(operation.query), f"{method} {path} lists one parameter name twice"
        assert all(key in QUERY for key in operation.query)
    assert OPERATIONS[("GET", "/clients")].query_names()["status"] == "client_status"
