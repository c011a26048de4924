"""RFC 6749 §3.2 token endpoint: read the form and preload storage async, run the grant (authlib, synchronous, no
I/O) on the event loop, then apply its writes in one transaction."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from idp.auth_limits import AuthLimiter
from idp.dpop.proof import InvalidProof
from idp.endpoints.dpop_http import nonce_header, read_proof, token_endpoint_refusal
from idp.http import oauth_error, oauth_json, read_oauth_form
from idp.oauth.client_jwks import preload_client_keys
from idp.oauth.client_profile import preload_served_apps, resources_at_token_endpoint
from idp.oauth.request import HubRequest
from idp.oauth.state import Effects, Preloaded, run_with_state
from idp.oauth.store import apply_in_transaction, candidate_client_ids, preload_grant_rows
from idp.oauth.token_exchange import TOKEN_EXCHANGE, preload_subject
from idp.provider import Provider
from idp.security_events import record_security_event
from idp.storage.db import single_statements

USER_GRANTS = ("authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code")


async def token_endpoint(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    read = await read_oauth_form(request)
    if isinstance(read, Response):
        return read
    pairs, form = read
    candidates = candidate_client_ids(form, request.headers.get("authorization"))
    claimed = min(candidates) if candidates else None
    limits = provider.throttle.current()
    refused = await _throttled(limits, claimed, request)
    if refused is not None:
        return refused
    try:
        proof = await read_proof(provider, request, provider.token_url)
    except InvalidProof as exc:
        return token_endpoint_refusal(provider, exc)
    now = provider.clock.now()
    state = Preloaded(now=now, refresh_lifetimes=provider.refresh_lifetimes, dpop_jkt=proof.jkt if proof else None)
    try:
        state.clients = await provider.clients.get_many(candidates)
        await preload_client_keys(provider.client_keys, state, form)
        if form.get("grant_type", [None])[0] in USER_GRANTS:
            async with provider.sessionmaker() as session:
                await preload_grant_rows(await single_statements(session), form, state)
        elif form.get("grant_type", [None])[0] == TOKEN_EXCHANGE:
            async with provider.sessionmaker() as session:
                await preload_subject(session, provider.keys, provider.issuer, form, candidates, state)
        await preload_served_apps(provider.served_apps, state, candidates, resources_at_token_endpoint(form, state))
    except SQLAlchemyError:
        return oauth_error(
            503, "temporarily_unavailable", "The service is temporarily unavailable.", {"Retry-After": "5"}
        )
    oauth_request = HubRequest("POST", provider.token_url, request.headers, pairs)
    status, body, headers = await run_with_state(state, lambda: provider.server.create_token_response(oauth_request))
    if claimed and isinstance(body, dict) and body.get("error") == "invalid_client":
        await limits.record_client_auth_failure(claimed)  # guessing a secret slows down, then stops
        await record_security_event(
            provider.sessionmaker,
            "client.auth_failed",
            now,
            client_id=claimed,
            reason="invalid_client",
            ip=request.client.host if request.client else None,
            detail={"endpoint": "token"},
        )
    effects = state.effects
    if status != 200:
        # A refusal keeps only what must stick: a replay's revocation, and a client assertion's jti, spent
        # once presented even if the grant then failed (RFC 7523 §3 item 7).
        effects = Effects(
            revoke_grant=effects.revoke_grant, replay_marks=effects.replay_marks, device_polled=effects.device_polled
        )  # a device's poll counts even when refused
    if not effects.is_empty() and (
        status == 200 or effects.revoke_grant or effects.replay_marks or effects.device_polled
    ):
        try:
            lost = await apply_in_transaction(provider.sessionmaker, effects, now)
        except SQLAlchemyError:
            return oauth_error(
                503, "temporarily_unavailable", "The service is temporarily unavailable.", {"Retry-After": "5"}
            )
        if lost and status == 200:
            return oauth_error(
                400 if lost == "invalid_grant" else 401, lost, "The grant or client assertion was already used."
            )
    provider.metrics_token(form.get("grant_type", ["?"])[0], status)
    if proof is not None or (isinstance(body, dict) and body.get("error") == "invalid_dpop_proof"):
        headers = [*headers, *nonce_header(provider).items()]  # RFC 9449 §8.2: the next nonce to use
    return oauth_json(status, body, headers)


async def _throttled(limits: AuthLimiter, client_id: str | None, request: Request) -> Response | None:
    """Kominfo's ``token`` limits (per IP, per client, failed client authentication) before any work."""
    verdict = await limits.check_token(client_id=client_id, ip=request.client.host if request.client else "unknown")
    if verdict.unavailable:  # a limit that fails closed, and its store cannot answer
        return oauth_error(
            503,
            "temporarily_unavailable",
            "The service is temporarily unavailable.",
            {"Retry-After": str(verdict.retry_after_seconds)},
        )
    if not verdict.allowed:
        return oauth_error(
            429, "invalid_request", "Too many requests; retry later.", {"Retry-After": str(verdict.retry_after_seconds)}
        )
    return None
