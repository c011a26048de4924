"""The authorization request as the client meant it: from a pushed request (RFC 9126 ``request_uri``), from a
signed request object (RFC 9101 ``request``), or the plain parameters."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from idp.oauth.client_jwks import ClientKeySets, load_client_keys
from idp.oauth.par import PushedRequestInvalid, ResolvedRequest, load_pushed_params
from idp.oauth.request_object import FAPI_REQUEST_OBJECT_ALGS, REQUEST_OBJECT_ALGS, check_request_object
from idp.storage.models import Client


async def resolve_authorization_request(
    sessionmaker: async_sessionmaker[AsyncSession],
    params: list[tuple[str, str]],
    client: Client | None,
    issuer: str,
    now: int,
    *,
    first_visit: bool,
    key_sets: ClientKeySets,
) -> ResolvedRequest:
    """Raises ``PushedRequestInvalid`` or ``InvalidRequestObject``; the outer ``client_id`` must name the client."""
    names = [name for name, _ in params]
    if "request_uri" not in names and "request" not in names:
        return ResolvedRequest(params)
    if client is None or client.status != "active" or names.count("client_id") != 1:
        raise PushedRequestInvalid("The request names no known client.")
    if names.count("request_uri") + names.count("request") != 1:
        raise PushedRequestInvalid("Send either one request or one request_uri.")
    value = next(v for name, v in params if name in ("request_uri", "request"))
    if "request_uri" in names:
        async with sessionmaker() as session:
            return await load_pushed_params(session, value, client.client_id, now, check_expiry=first_visit)
    algorithms = FAPI_REQUEST_OBJECT_ALGS if client.profile == "fapi2" else REQUEST_OBJECT_ALGS
    jwks = await load_client_keys(key_sets, client, [value])
    inner = check_request_object(
        value, client_id=client.client_id, jwks=jwks, issuer=issuer, now=now, algorithms=algorithms
    )
    return ResolvedRequest(inner)
