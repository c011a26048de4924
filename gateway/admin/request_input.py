"""The admin API's input rules, checked before any handler runs: one table of query parameters (typed, ranged,
enumerated), path segments, and JSON bodies. The same table writes the OpenAPI document's parameters
(``gateway.admin.openapi_schemas``), so what the document promises and what the server accepts cannot drift.

Bad input is a 400 problem (the admin API's convention, see ``gateway.errors``); a body that is not JSON is
415, one over the size cap 413. Control characters (NUL above all: PostgreSQL refuses it in text) never get
past this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from gateway.apps import STATUSES
from gateway.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from idp.org import KINDS

Model = TypeVar("Model", bound=BaseModel)
MAX_BODY = 64 * 1024
MAX_OFFSET = 10_000  # deeper pages: the keyset cursor (``after`` / ``before``), which costs the same at any depth
# One line of printable text: no C0 controls, no DEL. Python re and JSON Schema read this pattern alike.
TEXT_PATTERN = r"^[^\u0000-\u001f\u007f]*$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CLIENT_STATUSES = ("active", "pending", "suspended")


@dataclass(frozen=True)
class QueryParam:
    """One query parameter: ``enum`` or ``minimum``/``maximum`` (integers) or free text up to ``max_length``."""

    name: str
    description: str
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int = 200
    pattern: str | None = None  # free text: a regular expression the whole value must match

    @property
    def is_int(self) -> bool:
        return self.minimum is not None

    def json_schema(self) -> dict[str, Any]:
        if self.enum:
            return {"type": "string", "enum": list(self.enum)}
        if self.is_int:
            return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}
        return {
            "type": "string",
            "minLength": 1,
            "maxLength": self.max_length,
            "pattern": TEXT_PATTERN if self.pattern is None else f"^{self.pattern}$",
        }

    def read(self, raw: str) -> str | int:
        if self.enum:
            if raw not in self.enum:
                raise BadRequest(f"'{self.name}' must be one of: {', '.join(self.enum)}")
            return raw
        if self.is_int:
            assert self.minimum is not None and self.maximum is not None
            # Length first: int() refuses strings over 4,300 digits with a ValueError of its own.
            digits = len(raw) <= 20 and raw.isascii() and raw.isdigit()
            if not digits or not self.minimum <= int(raw) <= self.maximum:
                raise BadRequest(f"'{self.name}' must be an integer from {self.minimum} to {self.maximum}")
            return int(raw)
        check_text(self.name, raw, self.max_length)
        if self.pattern is not None and not re.fullmatch(self.pattern, raw):
            raise BadRequest(f"'{self.name}' must match {self.pattern}")
        return raw


QUERY: dict[str, QueryParam] = {
    "limit": QueryParam("limit", "page size (default 50)", minimum=1, maximum=200),
    "offset": QueryParam(
        "offset",
        f"rows to skip (at most {MAX_OFFSET}; page further with the keyset cursor)",
        minimum=0,
        maximum=MAX_OFFSET,
    ),
    "after": QueryParam("after", "keyset cursor: the `next_after` of the previous page", max_length=254),
    "before": QueryParam(
        "before", "only entries with a smaller seq (keyset paging, newest first)", minimum=1, maximum=2**62
    ),
    "since": QueryParam("since", "only entries at or after this time (Unix seconds)", minimum=0, maximum=2**62),
    "until": QueryParam("until", "only entries before this time (Unix seconds)", minimum=0, maximum=2**62),
    "q": QueryParam("q", "search text"),
    "match": QueryParam(
        "match", "`contains` (default) or `prefix` match of `q` on name and email", enum=("contains", "prefix")
    ),
    "nik": QueryParam("nik", "exact NIK (16 digits)", max_length=16),
    "app_status": QueryParam("status", "app status", enum=STATUSES),
    "client_status": QueryParam("status", "client status", enum=CLIENT_STATUSES),
    "disabled": QueryParam("disabled", "only disabled (true) or enabled (false) accounts", enum=("true", "false")),
    "opd": QueryParam("opd", "slug of an OPD unit: it and its subtree", max_length=64),
    "traffic_opd": QueryParam(
        "opd", "slug of an OPD unit: its traffic and its subtree's", max_length=64, pattern="[a-z0-9][a-z0-9-]*"
    ),
    "minutes": QueryParam("minutes", "how many minutes back (default 60)", minimum=5, maximum=180),
    "under": QueryParam("under", "slug of an OPD unit: its subtree", max_length=64),
    "kind": QueryParam("kind", "kind of OPD unit", enum=KINDS),
    "action": QueryParam("action", "audit action, e.g. app.approve", max_length=64),
    "actor": QueryParam("actor", "audit actor (a user id)", max_length=200),
    "target": QueryParam("target", "audit target, e.g. app:parkir", max_length=300),
    "request_status": QueryParam("status", "data request status", enum=("open", "done", "refused", "cancelled")),
}


def check_text(name: str, value: str, max_length: int) -> None:
    if len(value) > max_length:
        raise BadRequest(f"'{name}' is longer than {max_length} characters")
    if _CONTROL.search(value):
        raise BadRequest(f"'{name}' contains control characters")


def read_query(request: Request, allowed: Mapping[str, str]) -> dict[str, str | int]:
    """The query string as typed values; ``allowed`` maps each accepted name to its ``QUERY`` key.

    Unknown, repeated and empty parameters are refused: a misspelt filter must not silently list everything."""
    values: dict[str, str | int] = {}
    for name, raw in request.query_params.multi_items():
        if name not in allowed:
            check_text("query parameter name", name, 100)
            accepted = ", ".join(allowed) or "none"
            raise BadRequest(f"unknown query parameter '{name}' (accepted: {accepted})")
        if name in values:
            raise BadRequest(f"'{name}' is given more than once")
        if raw == "":
            raise BadRequest(f"'{name}' is empty: leave it out instead")
        values[name] = QUERY[allowed[name]].read(raw)
    return values


def check_path_params(request: Request) -> None:
    for name, value in request.path_params.items():
        check_text(name, str(value), 200)


async def read_body(request: Request, model: type[Model]) -> Model:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise PayloadTooLarge(f"the request body is larger than {MAX_BODY} bytes")
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if raw and media_type != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise BadRequest(describe_validation(exc)) from exc


def describe_validation(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False, include_input=False)[:10]:
        where = ".".join(str(part) for part in item["loc"]) or "body"
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)
