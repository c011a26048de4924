"""The admin API's HTTP edge: bearer authentication, checked input, pagination, and problem+json for every error.

Each endpoint is ``async def handler(call: Call) -> Response`` wrapped by ``AdminHttp.endpoint``, which
authenticates the caller (an RFC 9068 access token of this hub whose ``aud`` is the admin API's resource
identifier, verified by the gateway's own ``TokenVerifier``), checks the path and query against
``gateway.admin.request_input`` (bodies are read there too), loads their roles, and renders any error as
RFC 9457 problem+json. Bad input never reaches a 5xx.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from gateway.admin.actor import Actor, load_actor
from gateway.admin.request_input import MAX_OFFSET, check_path_params, read_body, read_query
from gateway.admin.request_input import describe_validation as describe_validation  # the console's forms
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
DEFAULT_LIMIT = 50


def admin_resource(issuer: str) -> str:
    """The admin API's resource identifier (RFC 8707): tokens for it carry this ``aud``."""
    return f"{issuer.rstrip('/')}/admin/api/"


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int
    after: str | None = None  # keyset cursor, on the lists that offer one


@dataclass
class Call:
    """One admin API request: who is calling, the open database session, the checked query, and the request."""

    request: Request
    actor: Actor
    session: AsyncSession
    now: int
    query: dict[str, str | int] = field(default_factory=dict)
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def page(self) -> Page:
        after = self.query.get("after")
        return Page(
            int(self.query.get("limit", DEFAULT_LIMIT)),
            int(self.query.get("offset", 0)),
            None if after is None else str(after),
        )

    def param(self, name: str) -> str | None:
        value = self.query.get(name)
        return None if value is None else str(value)

    def int_param(self, name: str) -> int | None:
        value = self.query.get(name)
        return None if value is None else int(value)

    async def body(self, model: type[Model]) -> Model:
        return await read_body(self.request, model)


def check_text(name: str, value: str) -> None:
    """NUL never belongs in a name or a search, and PostgreSQL refuses it in text: say so as bad input (400)
    instead of letting the database's refusal read as an outage (503)."""
    if "\x00" in value:
        raise BadRequest(f"'{name}' contains a NUL character")


def query_text(request: Request, name: str, max_length: int = 200) -> str | None:
    """A console page's query parameter, cut to ``max_length``, NUL removed (see ``check_text``)."""
    return (request.query_params.get(name) or "").replace("\x00", "")[:max_length] or None


def page_response(items: list[dict[str, Any]], page: Page, cursor: str | None = None) -> Response:
    """``items`` holds up to ``limit + 1`` rows: the extra one only says that a next page exists.

    ``cursor`` names the item field a keyset list pages by: ``next_after`` is its value on the last item."""
    more = len(items) > page.limit
    shown = items[: page.limit]
    next_offset = page.offset + page.limit if more and page.offset + page.limit <= MAX_OFFSET else None
    document: dict[str, Any] = {"items": shown, "limit": page.limit, "offset": page.offset, "next_offset": next_offset}
    if cursor is not None:
        document["next_after"] = str(shown[-1][cursor]) if more else None
    return json_response(document)


def json_response(document: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(document, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers={"cache-control": "no-store"},
    )


Handler = Callable[[Call], Awaitable[Response]]


class AdminHttp:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], verifier: TokenVerifier, issuer: str, clock: Clock
    ) -> None:
        self._sessionmaker = sessionmaker
        self._verifier = verifier
        self._issuer = issuer
        self._resource = admin_resource(issuer)
        self._clock = clock

    def endpoint(self, handler: Handler, query: Mapping[str, str]) -> Callable[[Request], Awaitable[Response]]:
        """``query`` maps each query parameter the endpoint accepts to its ``request_input.QUERY`` key."""

        async def run(request: Request) -> Response:
            request_id = new_id(128)
            try:
                sub = await self._authenticate(request)
                check_path_params(request)
                values = read_query(request, query)
                async with self._sessionmaker() as session, session.begin():
                    call = Call(request, await load_actor(session, sub), session, self._clock.now(), values)
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
            raise Unauthenticated(
                "the admin API needs a person's token",
                headers=self._challenge("invalid_token", "a person's token is required"),
            )
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
