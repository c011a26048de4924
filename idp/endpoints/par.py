"""RFC 9126 pushed authorization request endpoint.

The client authenticates as at the token endpoint; the request (plain parameters, or a signed request object in
``request``, RFC 9101) is validated as the authorization endpoint would, then stored for ``par_ttl`` seconds
behind a single-use ``request_uri``. A DPoP proof sent here binds the code to its key (RFC 9449 §10.1).
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import OAuth2Error
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from idp.dpop.proof import InvalidProof
from idp.endpoints.dpop_http import read_proof, token_endpoint_refusal
from idp.endpoints.token import _throttled
from idp.http import datalist, oauth_error, oauth_json, read_oauth_form
from idp.oauth.adapters import HubClient
from idp.oauth.client_jwks import client_key_set, preload_client_keys
from idp.oauth.client_profile import preload_served_apps
from idp.oauth.grants import TOKEN_AUTH_METHODS
from idp.oauth.par import CLIENT_AUTH_PARAMS, new_pushed_request
from idp.oauth.request import HubRequest
from idp.oauth.request_object import (
    FAPI_REQUEST_OBJECT_ALGS,
    REQUEST_OBJECT_ALGS,
    InvalidRequestObject,
    check_request_object,
)
from idp.oauth.state import Preloaded, run_with_state
from idp.oauth.store import apply_effects_and_add, candidate_client_ids
from idp.provider import Provider


async def par_endpoint(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    read = await read_oauth_form(request)
    if isinstance(read, Response):
        return read
    pairs, form = read
    if "request_uri" in form:  # RFC 9126 §2.1
        return oauth_error(400, "invalid_request", "request_uri cannot be pushed.")
    candidates = candidate_client_ids(form, request.headers.get("authorization"))
    limits = provider.throttle.current()
    refused = await _throttled(limits, min(candidates) if candidates else None, request)
    if refused is not None:
        return refused
    try:
        proof = await read_proof(provider, request, provider.par_url)
    except InvalidProof as exc:
        return token_endpoint_refusal(provider, exc)
    now = provider.clock.now()
    state = Preloaded(now=now)
    state.clients = await provider.clients.get_many(candidates)
    await preload_client_keys(provider.client_keys, state, form)
    client, failure = await _authenticate(provider, request, pairs, state)
    if client is None:
        if candidates:
            await limits.record_client_auth_failure(min(candidates))
        return failure  # type: ignore[return-value]
    try:
        params = _pushed_params(provider, client, pairs, form, state)
        params = _bind_dpop_key(params, proof.jkt if proof else None)
    except InvalidRequestObject as exc:
        return oauth_error(400, "invalid_request_object", str(exc))
    except OAuth2Error as error:
        return oauth_error(400, error.error, error.description or error.error)
    try:
        pushed_resources = [value for name, value in params if name == "resource"]
        await preload_served_apps(provider.served_apps, state, {client.client_id}, pushed_resources)
    except SQLAlchemyError:
        return oauth_error(
            503, "temporarily_unavailable", "The service is temporarily unavailable.", {"Retry-After": "5"}
        )
    checked = await _validate(provider, client, params, state)
    if checked is not None:
        return checked
    request_uri, row = new_pushed_request(client.client_id, params, now, provider.settings.par_ttl)
    try:
        async with provider.sessionmaker() as session, session.begin():
            if await apply_effects_and_add(session, state.effects, now, row):  # the client assertion's jti, single use
                return oauth_error(401, "invalid_client", "The client assertion was already used.")
    except SQLAlchemyError:
        return oauth_error(
            503, "temporarily_unavailable", "The service is temporarily unavailable.", {"Retry-After": "5"}
        )
    return oauth_json(201, {"request_uri": request_uri, "expires_in": provider.settings.par_ttl})


async def _authenticate(
    provider: Provider, request: Request, pairs: list[tuple[str, str]], state: Preloaded
) -> tuple[HubClient | None, Response | None]:
    oauth_request = HubRequest("POST", provider.par_url, request.headers, pairs)
    try:
        client = await run_with_state(
            state, lambda: provider.server.authenticate_client(oauth_request, TOKEN_AUTH_METHODS, "par")
        )
    except OAuth2Error as error:
        status, body, headers = error()
        return None, oauth_json(status, body, headers)
    named = datalist(pairs).get("client_id", [client.client_id])[0]
    if named != client.client_id:
        return None, oauth_error(401, "invalid_client", "client_id does not match the authenticated client.")
    return client, None


def _pushed_params(
    provider: Provider, client: HubClient, pairs: list[tuple[str, str]], form: dict[str, list[str]], state: Preloaded
) -> list[tuple[str, str]]:
    """The request as the client meant it: the request object's claims when there is one (RFC 9101 §6.3)."""
    if "request" in form:
        algorithms = FAPI_REQUEST_OBJECT_ALGS if client.row.profile == "fapi2" else REQUEST_OBJECT_ALGS
        params = check_request_object(
            form["request"][0],
            client_id=client.client_id,
            jwks=client_key_set(client.row, state),
            issuer=provider.issuer,
            now=state.now,
            algorithms=algorithms,
        )
    else:
        params = [(name, value) for name, value in pairs if name not in CLIENT_AUTH_PARAMS]
    return [("client_id", client.client_id), *[(n, v) for n, v in params if n != "client_id"]]


def _bind_dpop_key(params: list[tuple[str, str]], jkt: str | None) -> list[tuple[str, str]]:
    """RFC 9449 §10.1: a proof at PAR binds the code to its key; a different ``dpop_jkt`` is refused."""
    named = [value for name, value in params if name == "dpop_jkt"]
    if jkt is None:
        return params
    if named and named[0] != jkt:
        raise InvalidDpopJkt("dpop_jkt does not match the DPoP proof's key.")
    return params if named else [*params, ("dpop_jkt", jkt)]


class InvalidDpopJkt(OAuth2Error):
    error = "invalid_dpop_proof"


async def _validate(
    provider: Provider, client: HubClient, params: list[tuple[str, str]], state: Preloaded
) -> Response | None:
    """RFC 9126 §2.1: validated as the authorization endpoint does (client, redirect_uri, scope, PKCE, ...)."""
    oauth_request = HubRequest("GET", provider.authorize_url, {}, params)

    def validate() -> None:
        grant = provider.server.get_authorization_grant(oauth_request)
        grant.validate_no_multiple_request_parameter(oauth_request)
        grant.validate_authorization_request()

    try:
        await run_with_state(state, validate)
    except OAuth2Error as error:
        return oauth_error(400, error.error, error.description or error.error)
    return None
