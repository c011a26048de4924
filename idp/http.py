"""HTTP plumbing shared by the provider's endpoints: bounded form reading, OAuth JSON responses."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from idp.oauth.syntax import find_malformed

MAX_FORM_BYTES = 64 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class FormError(Exception):
    """The body is not an acceptable form; ``status`` says why (413 too large, 400 otherwise)."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


async def read_form(request: Request) -> list[tuple[str, str]]:
    """The urlencoded body as ordered pairs (repeats kept), bounded in size."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise FormError(400, "The request body must be application/x-www-form-urlencoded.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormError(413, "The request body is too large.")
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=False, strict_parsing=False, max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError(400, "The request body is not valid form data.") from exc


def datalist(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for key, value in pairs:
        result.setdefault(key, []).append(value)
    return result


def oauth_json(status: int, body: Any, headers: list[tuple[str, str]] | dict[str, str] | None = None) -> Response:
    merged = dict(NO_STORE)
    for key, value in headers.items() if isinstance(headers, dict) else headers or []:
        if key.lower() != "content-type":
            merged[key] = value
    payload = body if isinstance(body, (bytes, str)) else json.dumps(body, separators=(",", ":"))
    return Response(payload, status_code=status, media_type="application/json", headers=merged)


def oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> Response:
    return oauth_json(status, {"error": error, "error_description": description}, headers)


REPEATABLE = ("resource",)  # RFC 8707 §2; every other parameter at most once (RFC 6749 §3.1, §3.2)


async def read_oauth_form(request: Request) -> tuple[list[tuple[str, str]], dict[str, list[str]]] | Response:
    """The form of a token-like endpoint (token, pushed authorization): read, each parameter at most once, every
    value within its grammar (``idp.oauth.syntax``); otherwise the RFC 6749 error response to send."""
    try:
        pairs = await read_form(request)
    except FormError as exc:
        return oauth_error(exc.status, "invalid_request", exc.description)
    form = datalist(pairs)
    if any(len(values) > 1 for key, values in form.items() if key not in REPEATABLE):
        return oauth_error(400, "invalid_request", "A request parameter was repeated.")
    malformed = find_malformed(pairs)
    if malformed is not None:
        return oauth_error(400, "invalid_request", f"Malformed '{malformed}'.")
    return pairs, form
