"""RFC 7009 revocation and RFC 7662 introspection, for authenticated clients."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Error
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from idp.http import oauth_error, oauth_json, read_oauth_form
from idp.oauth.adapters import HubClient
from idp.oauth.client_jwks import preload_client_keys
from idp.oauth.grants import CONFIDENTIAL_AUTH_METHODS, TOKEN_AUTH_METHODS
from idp.oauth.request import HubRequest
from idp.oauth.session_binding import does_refresh_stand, load_grant_session
from idp.oauth.standing import check_access_token_stands, is_client_active, is_user_active
from idp.oauth.state import Preloaded, run_with_state
from idp.oauth.store import (
    apply_in_transaction,
    candidate_client_ids,
    load_refresh_token,
    revoke_family,
    revoke_jti,
)
from idp.oauth.tokens import digest
from idp.oauth.verify import TokenInvalid, verify_hub_jwt_reloading
from idp.provider import Provider
from idp.security_events import add_security_event, record_security_event

# RFC 7009 §2.1 lets a public client revoke with its client_id; RFC 7662 §2.1 wants an introspecting caller
# authorized, which a public client cannot be.
AUTH_METHODS = {"revoke": TOKEN_AUTH_METHODS, "introspect": CONFIDENTIAL_AUTH_METHODS}


async def _authenticate(
    request: Request, provider: Provider, endpoint: str
) -> tuple[HubClient | None, dict[str, list[str]], Response | None]:
    read = await read_oauth_form(request)  # every value within its grammar before storage or authlib sees it
    if isinstance(read, Response):
        return None, {}, read
    pairs, form = read
    state = Preloaded(now=provider.clock.now())
    state.clients = await provider.clients.get_many(candidate_client_ids(form, request.headers.get("authorization")))
    await preload_client_keys(provider.client_keys, state, form)
    oauth_request = HubRequest("POST", f"{provider.base}/{endpoint}", request.headers, pairs)
    try:
        client = await run_with_state(
            state, lambda: provider.server.authenticate_client(oauth_request, AUTH_METHODS[endpoint], endpoint)
        )
    except OAuth2Error as error:
        status, body, headers = error()
        if isinstance(body, dict) and body.get("error") == "invalid_client":
            claimed = min(state.clients) if state.clients else None
            await record_security_event(
                provider.sessionmaker,
                "client.auth_failed",
                provider.clock.now(),
                client_id=claimed,
                reason="invalid_client",
                ip=request.client.host if request.client else None,
                detail={"endpoint": endpoint},
            )
        return None, form, oauth_json(status, body, headers)
    if state.effects.replay_marks and await apply_in_transaction(
        provider.sessionmaker, state.effects, provider.clock.now()
    ):
        return None, form, oauth_error(401, "invalid_client", "The client assertion was already used.")
    if not form.get("token"):
        return client, form, oauth_error(400, "invalid_request", "Missing 'token'.")
    return client, form, None


async def _access_claims(provider: Provider, token: str, verify_exp: bool) -> dict[str, Any] | None:
    if token.count(".") != 2:
        return None
    try:
        return await verify_hub_jwt_reloading(
            provider.keys, token, provider.issuer, typ="at+jwt", verify_exp=verify_exp, now=provider.clock.now()
        )
    except TokenInvalid:
        return None


async def revocation_endpoint(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    client, form, error = await _authenticate(request, provider, "revoke")
    if error is not None or client is None:
        return error  # type: ignore[return-value]
    token = form["token"][0]
    now = provider.clock.now()
    try:
        async with provider.sessionmaker() as session, session.begin():
            refresh, grant = await load_refresh_token(session, digest(token))
            if refresh is not None:
                if grant is not None and grant.client_id == client.client_id:
                    await revoke_family(session, grant.id, now, "revoked by client")
                    add_security_event(
                        session,
                        "token.revoked",
                        now,
                        user_id=grant.user_id,
                        client_id=client.client_id,
                        reason="revocation_endpoint",
                        detail={"token": "refresh_token"},
                    )
            else:
                claims = await _access_claims(provider, token, verify_exp=False)
                if claims and claims.get("client_id") == client.client_id and int(claims["exp"]) > now:
                    await revoke_jti(session, str(claims["jti"]), int(claims["exp"]))
                    add_security_event(
                        session,
                        "token.revoked",
                        now,
                        user_id=claims.get("sub"),
                        client_id=client.client_id,
                        reason="revocation_endpoint",
                        detail={"token": "access_token"},
                    )
    except SQLAlchemyError:
        return oauth_error(503, "temporarily_unavailable", "The service is temporarily unavailable.")
    # RFC 7009 §2.2: 200 whether or not the token was valid.
    return oauth_json(200, {})


async def introspection_endpoint(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    client, form, error = await _authenticate(request, provider, "introspect")
    if error is not None or client is None:
        return error  # type: ignore[return-value]
    token = form["token"][0]
    now = provider.clock.now()
    inactive = oauth_json(200, {"active": False})
    try:
        async with provider.sessionmaker() as session:
            refresh, grant = await load_refresh_token(session, digest(token))
            if refresh is not None:
                if (
                    grant is None
                    or grant.client_id != client.client_id
                    or not does_refresh_stand(
                        grant, refresh, await load_grant_session(session, grant), now, provider.refresh_lifetimes
                    )
                    or not await is_client_active(provider.clients, grant.client_id)
                    or not await is_user_active(session, grant.user_id)
                ):
                    return inactive
                bound = {"cnf": {"jkt": grant.dpop_jkt}} if grant.dpop_jkt else {}
                return oauth_json(
                    200,
                    {
                        "active": True,
                        "token_type": "refresh_token",
                        "client_id": grant.client_id,
                        "sub": grant.user_id,
                        "scope": grant.scope,
                        "exp": refresh.expires_at,
                        "iat": refresh.issued_at,
                        "iss": provider.issuer,
                        **bound,
                    },
                )
            claims = await _access_claims(provider, token, verify_exp=True)
            if claims is None:
                return inactive
            await check_access_token_stands(session, provider.clients, claims)
    except TokenInvalid:
        return inactive
    except SQLAlchemyError:
        return oauth_error(503, "temporarily_unavailable", "The service is temporarily unavailable.")
    audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if claims.get("client_id") != client.client_id and not set(audience) & set(client.row.resources):
        return inactive  # only the token's client or the API it is for may look inside
    # RFC 9449 §6.2: a bound token's cnf (with its jkt) is part of the answer; its type is DPoP.
    token_type = "DPoP" if isinstance(claims.get("cnf"), dict) else "Bearer"
    return oauth_json(200, {"active": True, "token_type": token_type, **claims})
