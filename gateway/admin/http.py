"""The admin API's HTTP edge: bearer authentication, JSON bodies, pagination, and problem+json for every error.

Each endpoint is ``async def handler(call: Call) -> Response`` wrapped by ``AdminHttp.endpoint``, which
authenticates the caller (an RFC 9068 access token of this hub whose ``aud`` is the admin API's resource
identifier, verified by the gateway's own ``TokenVerifier``), loads their roles, and renders any error as
RFC 9457 problem+json. Bad input never reaches a 5xx.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from gateway.admin.actor import Actor, load_actor
from gateway.authenticate import TOKEN68, build_challenge
from gateway.errors import BadRequest, GatewayError, NotFound, ServiceUnavailable, Unauthenticated
from gateway.errors import Conflict as ConflictError
from gateway.headers import new_id
from gateway.problem import problem_response
from gateway.token_verifier import InvalidToken, TokenVerifier
from idp.clock import Clock
from idp.errors import Conflict, GerbangError, InvalidInput
from idp.errors import NotFound as RecordNotFound

log = logging.getLogger("gerbang.admin")

Model = TypeVar("Model", bound=BaseModel)
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_BODY = 64 * 1024


def admin_resource(issuer: str) -> str:
    """The admin API's resource identifier (RFC 8707): tokens for it carry this ``aud``."""
    return f"{issuer.rstrip('/')}/admin/api/"


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


@dataclass
class Call:
    """One admin API request: who is calling, the open database session, and the request."""

    request: Request
    actor: Actor
    session: AsyncSession
    now: int
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def page(self) -> Page:
        return Page(self.int_param("limit", DEFAULT_LIMIT, 1, MAX_LIMIT), self.int_param("offset", 0, 0, 10**9))

    def int_param(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.request.query_params.get(name)
        if raw is None or raw == "":
            return default
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not low <= int(raw) <= high:  # '²' is a digit
            raise BadRequest(f"'{name}' must be an integer from {low} to {high}")
        return int(raw)

    def param(self, name: str, max_length: int = 200) -> str | None:
        value = self.request.query_params.get(name)
        if value is None or value == "":
            return None
        if len(value) > max_length:
            raise BadRequest(f"'{name}' is longer than {max_length} characters")
        return value

    async def body(self, model: type[Model]) -> Model:
        raw = await self.request.body()
        if len(raw) > MAX_BODY:
            raise BadRequest("the request body is too large")
        if raw and "json" not in self.request.headers.get("content-type", ""):
            raise BadRequest("send the body as application/json")
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


def page_response(items: list[dict[str, Any]], page: Page) -> Response:
    """``items`` holds up to ``limit + 1`` rows: the extra one only says that a next page exists."""
    more = len(items) > page.limit
    return json_response({"items": items[:page.limit], "limit": page.limit, "offset": page.offset,
                          "next_offset": page.offset + page.limit if more else None})


def json_response(document: Any, status: int = 200) -> Response:
    return Response(json.dumps(document, separators=(",", ":")), status_code=status,
                    media_type="application/json", headers={"cache-control": "no-store"})


Handler = Callable[[Call], Awaitable[Response]]


class AdminHttp:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], verifier: TokenVerifier, issuer: str,
                 clock: Clock) -> None:
        self._sessionmaker = sessionmaker
        self._verifier = verifier
        self._issuer = issuer
        self._resource = admin_resource(issuer)
        self._clock = clock

    def endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            request_id = new_id(128)
            try:
                sub = await self._authenticate(request)
                async with self._sessionmaker() as session, session.begin():
                    call = Call(request, await load_actor(session, sub), session, self._clock.now())
                    response = await handler(call)
                for hook in call.after_commit:
                    await hook()
                return response
            except Exception as exc:  # every failure is one problem document, never a stack trace
                return problem_response(as_gateway_error(exc), request_id)
        run.__name__ = handler.__name__
        return run

    async def _authenticate(self, request: Request) -> str:
        values = request.headers.getlist("authorization")
        scheme, _, token = (values[0] if len(values) == 1 else "").partition(" ")
        if scheme.lower() != "bearer" or not TOKEN68.match(token.strip().encode()):
            raise Unauthenticated("an access token for the admin API is required", headers=self._challenge())
        try:
            claims = await self._verifier.verify(token.strip(), self._resource)
        except InvalidToken as exc:
            raise Unauthenticated(str(exc), headers=self._challenge("invalid_token", str(exc))) from exc
        if claims.sub == claims.client_id:  # RFC 9068 §2.2: a client_credentials token has no person behind it
            raise Unauthenticated("the admin API needs a person's token",
                                  headers=self._challenge("invalid_token", "a person's token is required"))
        return claims.sub

    def _challenge(self, error: str | None = None, description: str | None = None) -> tuple[tuple[bytes, bytes]]:
        return ((b"www-authenticate", build_challenge(self._issuer, error, description)),)


def as_gateway_error(exc: Exception) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, RecordNotFound):
        return NotFound(exc.message)
    if isinstance(exc, Conflict):
        return ConflictError(exc.message)
    if isinstance(exc, (InvalidInput, GerbangError)) and exc.status < 500:
        return BadRequest(exc.message)
    if isinstance(exc, IntegrityError):  # a concurrent change won the race for a unique name
        return ConflictError("this conflicts with a record created at the same time; reload and retry")
    if isinstance(exc, (SQLAlchemyError, OSError, GerbangError)):
        return ServiceUnavailable("the hub's storage is unavailable, try again shortly", log_detail=repr(exc))
    log.exception("admin API failure")
    return GatewayError("the admin API failed unexpectedly", log_detail=repr(exc))
