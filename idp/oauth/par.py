"""RFC 9126 pushed authorization requests: storing them, and resolving a ``request_uri`` at the authorization
endpoint.

A ``request_uri`` is stored by digest, lives ``par_ttl`` seconds (60 by default) and is single use: it is spent
in the transaction that issues the code (``Effects.spend_pushed``), so a second use, even a concurrent one, fails.
A request parked at the login page resumes with the same ``request_uri``; its lifetime is then the interaction's.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from idp.oauth.tokens import digest
from idp.storage.db import rows_affected
from idp.storage.models import Client, PushedRequest

URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
CLIENT_AUTH_PARAMS = ("client_secret", "client_assertion", "client_assertion_type")


class PushedRequestInvalid(Exception):
    """The request_uri cannot be used; ``str(exc)`` is the public description (``invalid_request_uri``)."""


@dataclass(frozen=True)
class ResolvedRequest:
    params: list[tuple[str, str]]
    pushed_digest: str | None = None  # set when the request came through PAR (spent when the code is issued)


def is_par_required(client: Client, server_wide: bool) -> bool:
    return server_wide or client.require_par or client.profile == "fapi2"


def new_pushed_request(client_id: str, params: list[tuple[str, str]], now: int, ttl: int) -> tuple[str, PushedRequest]:
    request_uri = URI_PREFIX + secrets.token_urlsafe(32)
    kept = [[name, value] for name, value in params if name not in CLIENT_AUTH_PARAMS]
    return request_uri, PushedRequest(
        uri_digest=digest(request_uri), client_id=client_id, params=kept, expires_at=now + ttl
    )


async def load_pushed_params(
    session: AsyncSession, request_uri: str, client_id: str, now: int, check_expiry: bool
) -> ResolvedRequest:
    if not request_uri.startswith(URI_PREFIX):
        raise PushedRequestInvalid("The request_uri was not issued by this server.")
    row = await session.get(PushedRequest, digest(request_uri))
    if row is None or row.client_id != client_id:
        raise PushedRequestInvalid("The request_uri is unknown.")
    if row.used_at is not None:
        raise PushedRequestInvalid("The request_uri was already used.")
    if check_expiry and row.expires_at <= now:
        raise PushedRequestInvalid("The request_uri has expired.")
    return ResolvedRequest([(name, value) for name, value in row.params], row.uri_digest)


async def spend_pushed_request(session: AsyncSession, uri_digest: str, now: int) -> bool:
    result = await session.execute(
        update(PushedRequest)
        .where(PushedRequest.uri_digest == uri_digest, PushedRequest.used_at.is_(None))
        .values(used_at=now)
    )
    return rows_affected(result) == 1
