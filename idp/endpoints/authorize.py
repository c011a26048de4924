"""OIDC Core §3.1.2 authorization endpoint: validate, sign in / consent if needed, issue a code.

Errors reach the client only at a redirect URI authlib has matched exactly against the client's
registration; anything else is a page for the person in front of the browser (RFC 6749 §4.1.2.1).
Every response redirected to the client carries ``iss`` (RFC 9207).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import OAuth2Error
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from idp.endpoints.broker import load_enabled_upstream
from idp.endpoints.device import resume_target
from idp.http import FormError, datalist, read_form
from idp.interactions import COOKIE as INTERACTION_COOKIE
from idp.oauth.par import PushedRequestInvalid, is_par_required
from idp.oauth.request import HubRequest
from idp.oauth.request_object import InvalidRequestObject
from idp.oauth.resolve import resolve_authorization_request
from idp.oauth.state import Preloaded, run_with_state
from idp.oauth.syntax import find_malformed
from idp.oauth.store import apply_in_transaction
from idp.oauth.verify import TokenInvalid, verify_id_token
from idp.pages import see_other
from idp.provider import Provider
from idp.second_factor import is_step_up_needed
from idp.sessions import ActiveSession
from idp.storage.models import AuthorizationCode, Consent, Interaction
from policies.model import Decision as PolicyDecision
from policies.model import Subject

log = logging.getLogger("gerbang.idp")

NONCE_WINDOW = 3600  # a nonce seen in a code of the last hour is a replay (the pruner keeps codes that long)
UNSUPPORTED = {"registration": "registration_not_supported"}


async def authorize_endpoint(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    if request.method == "POST":
        try:
            params = await read_form(request)
        except FormError:
            return provider.pages.error(request, "error.back", 400)
    else:
        params = list(request.query_params.multi_items())
    return await process_authorization(request, provider, params, None, None)


async def resume_endpoint(request: Request) -> Response:
    """Back from the login or consent page: continue the parked authorization request."""
    provider: Provider = request.app.state.provider
    value = request.query_params.get("interaction")
    device_page = None
    try:
        async with provider.sessionmaker() as session:
            interaction = await provider.interactions.load(value, request.cookies.get(INTERACTION_COOKIE), session)
            if interaction is None or value is None:
                return provider.pages.error(request, "error.expired", 400)
            params = [(k, v) for k, v in interaction.params]
            device_page = resume_target(params)
            if device_page is None:
                return await process_authorization(request, provider, params, interaction, value, session)
    except SQLAlchemyError:
        return provider.pages.error(request, "error.unavailable", 503)
    # A sign-in for the device page (RFC 8628), not an authorization request.
    await provider.interactions.finish(value)
    return see_other(device_page)


async def process_authorization(request: Request, provider: Provider, sent: list[tuple[str, str]],
                                interaction: Interaction | None, interaction_id: str | None,
                                session: AsyncSession | None = None) -> Response:
    """``sent`` are the parameters as sent, ``params`` the request they stand for (parked with its request_uri, so
    the resumed request is read from the pushed one again). At most one read transaction (``session``, or one of
    its own) and one write transaction per request."""
    if session is None:
        try:
            async with provider.sessionmaker() as session:
                return await process_authorization(request, provider, sent, interaction, interaction_id, session)
        except SQLAlchemyError:
            return provider.pages.error(request, "error.unavailable", 503)
    malformed = find_malformed(sent)
    if malformed is not None:  # not yet known to be the client's redirect URI: a page, never a redirect
        return provider.pages.error(request, "error.back", 400, detail=f"invalid_request: {malformed}")
    now = provider.clock.now()
    state = Preloaded(extras={"now": now})
    client_id = datalist(sent).get("client_id", [""])[0]
    state.clients = await provider.clients.get_many({client_id} if client_id else set(), holding=session)
    try:
        resolved = await resolve_authorization_request(provider.sessionmaker, sent, state.clients.get(client_id),
                                                       provider.issuer, now, first_visit=interaction is None,
                                                       key_sets=provider.client_keys)
    except (PushedRequestInvalid, InvalidRequestObject) as exc:
        return provider.pages.error(request, "error.back", 400, detail=str(exc))
    params = resolved.params
    malformed = find_malformed(params)  # what a request object or a pushed request carried
    if malformed is not None:
        return provider.pages.error(request, "error.back", 400, detail=f"invalid_request: {malformed}")
    data = datalist(params)
    if "redirect_uri" not in data:  # OIDC Core §3.1.2.1, FAPI 2.0: required even with one registered
        return provider.pages.error(request, "error.back", 400, detail="invalid_request: redirect_uri")
    parked = params + ([(n, v) for n, v in sent if n == "request_uri"] if resolved.pushed_digest else [])
    active = await provider.sessions.load(request.cookies.get(provider.session_cookie), session)
    if interaction is not None and interaction.login_sid and (active is None or
                                                              active.row.sid != interaction.login_sid):
        active = None  # the login made for this request is gone: sign in again
    nonce = data.get("nonce", [None])[0]
    if nonce and client_id:
        state.nonce_seen = await _nonce_seen(session, client_id, nonce, now)
    if session.dirty:
        await session.commit()  # the session's once-a-minute last_seen touch
    user = active.user if active else None
    oauth_request = HubRequest("GET", provider.authorize_url, request.headers, params)
    try:
        grant = await run_with_state(state, lambda: provider.server.get_consent_grant(oauth_request, end_user=user))
    except OAuth2Error as error:
        return _error_response(request, provider, error)
    redirect_uri, client = grant.redirect_uri, grant.request.client
    response_state = data.get("state", [None])[0]

    def client_error(code: str, description: str) -> Response:
        return _redirect_with(redirect_uri, provider, [("error", code), ("error_description", description)],
                              response_state)

    for name, code in UNSUPPORTED.items():
        if name in data:
            return client_error(code, f"The '{name}' parameter is not supported.")
    if resolved.pushed_digest is None and is_par_required(client.row,
                                                          provider.settings.require_pushed_authorization_requests):
        return client_error("invalid_request", "This client must push its authorization requests (PAR).")
    if data.get("response_mode", ["query"])[0] != "query":
        return client_error("invalid_request", "Only response_mode=query is supported.")
    prompts = set(data.get("prompt", [""])[0].split())
    fresh_login = interaction is not None and active is not None and interaction.login_sid == active.row.sid
    needs_login = active is None or (not fresh_login and _login_expired(data, active, prompts, now))
    if active is not None and not needs_login and "id_token_hint" in data:
        hint_sub = await _hint_subject(provider, data["id_token_hint"][0])
        if hint_sub is None:
            return client_error("invalid_request", "The id_token_hint is not valid.")
        needs_login = hint_sub != active.user.id
    if "create" in prompts and (interaction is None or not interaction.login_sid):
        # OpenID Connect Initiating User Registration 1.0: sign-up first, then sign in and continue.
        return await _park(request, provider, client.client_id, parked, "/auth/register", interaction_id, session)
    if needs_login:
        if "none" in prompts:
            return client_error("login_required", "The user must sign in.")
        return await _park(request, provider, client.client_id, parked,
                           await _login_page_for(provider, data.get("idp_hint", [""])[0]), interaction_id, session)
    assert active is not None
    verdict = login_decision(provider, active, client.client_id)
    if not verdict.allowed:
        return client_error("access_denied", "The city's policy does not allow this sign-in.")
    scope = " ".join(provider.ctx.policies.current.allowed_scopes(client.client_id, (grant.request.scope or "").split()))
    grant.request.scope = scope
    if await is_step_up_needed(provider.sessionmaker, data.get("acr_values", [None])[0], active, session):
        if "none" in prompts:
            return client_error("interaction_required", "A second factor is required.")
        return await _park(request, provider, client.client_id, parked, "/auth/mfa/step-up", interaction_id,
                           session)
    consent_given = interaction is not None and interaction.consent_given
    if not consent_given and not await _has_consent(session, active.user.id, client.row, scope, prompts):
        if "none" in prompts:
            return client_error("consent_required", "The user must consent.")
        return await _park(request, provider, client.client_id, parked, "/auth/consent", interaction_id, session)
    state.extras["code_ttl"] = provider.settings.code_ttl
    state.effects.spend_pushed = resolved.pushed_digest
    state.extras["login"] = {"sid": active.row.sid, "auth_time": active.row.auth_time, "acr": active.row.acr,
                             "amr": list(active.row.amr)}
    try:
        status, _body, headers = await run_with_state(state, lambda: provider.server.create_authorization_response(
            oauth_request, grant_user=active.user, grant=grant))
    except OAuth2Error as error:
        return _error_response(request, provider, error)
    location = dict(headers).get("Location", "")
    await session.close()  # the reads are done: the write below is the request's one write transaction

    async def record_sign_in(writing: AsyncSession) -> None:
        await provider.sessions.add_client(active.row.sid, client.client_id, writing)
        if interaction_id:
            await provider.interactions.finish(interaction_id, writing)

    if status == 302 and state.effects.new_code:
        try:
            failed = await apply_in_transaction(provider.sessionmaker, state.effects, now, also=record_sign_in)
        except SQLAlchemyError:
            failed = "temporarily_unavailable"
        if failed:
            return provider.pages.error(request, "error.unavailable", 503)
    elif interaction_id:
        await provider.interactions.finish(interaction_id)
    response = see_other(add_params_to_uri(location, [("iss", provider.issuer)]))
    if interaction_id:
        response.delete_cookie(INTERACTION_COOKIE, path="/auth")
    return response


def login_decision(provider: Provider, active: ActiveSession, client_id: str) -> PolicyDecision:
    """Kominfo's provider rules: may this person sign in to this client? Denials are logged."""
    user = active.user
    subject = Subject(sub=user.id, roles=tuple(sorted({m.role for m in user.memberships})),
                      opd_paths=tuple(sorted({m.opd.path for m in user.memberships})), acr=active.row.acr)
    decision = provider.ctx.policies.current.decide_login(subject, client_id)
    if not decision.allowed or decision.report_only:
        log.info("login policy decision", extra={"client_id": client_id, "sub": user.id, "allowed": decision.allowed,
                                                 "rule_ids": list(decision.rule_ids),
                                                 "report_only": list(decision.report_only)})
    return decision


async def _login_page_for(provider: Provider, idp_hint: str) -> str:
    """``idp_hint=slug`` (Keycloak's kc_idp_hint) goes straight to that upstream; else the sign-in page."""
    if idp_hint and await load_enabled_upstream(provider, idp_hint) is not None:
        return f"/auth/broker/{idp_hint}/start"
    return "/auth/login"


def _login_expired(data: dict[str, list[str]], active: ActiveSession, prompts: set[str], now: int) -> bool:
    if "login" in prompts:
        return True
    max_age = data.get("max_age", [None])[0]
    if max_age is not None and max_age.isdigit():
        # max_age=0 is prompt=login (OIDC Core §3.1.2.1); times are whole seconds.
        return int(max_age) == 0 or now - active.row.auth_time > int(max_age)
    return False


async def _hint_subject(provider: Provider, hint: str) -> str | None:
    try:
        claims = await verify_id_token(provider.keys, hint, provider.issuer, now=provider.clock.now())
    except TokenInvalid:
        return None
    return str(claims.get("sub"))


async def _nonce_seen(session: AsyncSession, client_id: str, nonce: str, now: int) -> bool:
    """A point lookup on ``ix_authorization_codes_client_nonce``: its cost does not grow with the codes stored."""
    found = await session.scalar(select(AuthorizationCode.code_digest).where(
        AuthorizationCode.client_id == client_id, AuthorizationCode.nonce == nonce,
        AuthorizationCode.expires_at > now - NONCE_WINDOW).limit(1))
    return found is not None


async def _has_consent(session: AsyncSession, user_id: str, client: Any, scope: str, prompts: set[str]) -> bool:
    if "consent" in prompts:
        return False
    if client.first_party:
        return True
    consent = await session.scalar(select(Consent).where(Consent.user_id == user_id,
                                                         Consent.client_id == client.client_id))
    return consent is not None and set(scope.split()) <= set(consent.scope.split())


async def _park(request: Request, provider: Provider, client_id: str, params: list[tuple[str, str]], page: str,
                interaction_id: str | None, reading: AsyncSession) -> Response:
    await reading.close()  # the reads are done; never hold a connection while waiting for another
    if interaction_id is None:
        interaction_id = await provider.interactions.create(client_id, params)
    response = see_other(f"{page}?{urlencode({'interaction': interaction_id})}")
    response.set_cookie(INTERACTION_COOKIE, interaction_id, httponly=True, samesite="lax",
                        secure=provider.settings.uses_tls, path="/auth")
    return response


def _redirect_with(redirect_uri: str, provider: Provider, params: list[tuple[str, str]],
                   state: str | None) -> Response:
    if state:
        params.append(("state", state))
    params.append(("iss", provider.issuer))
    return see_other(add_params_to_uri(redirect_uri, params))


def _error_response(request: Request, provider: Provider, error: OAuth2Error) -> Response:
    if error.redirect_uri:
        params = [("error", error.error)]
        if error.description:
            params.append(("error_description", error.description))
        return _redirect_with(error.redirect_uri, provider, params, error.state)
    return provider.pages.error(request, "error.back", 400, detail=error.description or error.error)
