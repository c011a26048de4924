"""OIDC Core §3.1.2 authorization endpoint: validate, sign in / consent if needed, issue a code.

The checks run in order, one small step each (``idp.endpoints.authorization_steps.STEPS``); ``issue_code`` ends.

Errors reach the client only at a redirect URI authlib has matched exactly against the client's
registration; anything else is a page for the person in front of the browser (RFC 6749 §4.1.2.1).
Every response redirected to the client carries ``iss`` (RFC 9207).
"""

from __future__ import annotations

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import OAuth2Error
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from idp.endpoints.authorization_steps import STEPS, Authorization, error_response
from idp.endpoints.device import resume_target
from idp.http import FormError, read_form
from idp.interactions import COOKIE as INTERACTION_COOKIE
from idp.oauth.state import Preloaded, SignIn, run_with_state
from idp.oauth.store import apply_in_transaction
from idp.pages import see_other
from idp.provider import Provider
from idp.storage.db import Write, single_statements
from idp.storage.models import Interaction


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
            await single_statements(session)  # the reads need no transaction around them (no BEGIN/ROLLBACK)
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


async def process_authorization(
    request: Request,
    provider: Provider,
    sent: list[tuple[str, str]],
    interaction: Interaction | None,
    interaction_id: str | None,
    session: AsyncSession | None = None,
) -> Response:
    """Run ``STEPS`` in order; the first one that answers ends the request, else a code is issued. Reads in
    ``session`` (or one of its own), outside a transaction, and at most one write transaction per request."""
    if session is None:
        try:
            async with provider.sessionmaker() as session:
                await single_statements(session)  # the reads need no transaction around them (no BEGIN/ROLLBACK)
                return await process_authorization(request, provider, sent, interaction, interaction_id, session)
        except SQLAlchemyError:
            return provider.pages.error(request, "error.unavailable", 503)
    auth = Authorization(
        request, provider, sent, interaction, interaction_id, session, Preloaded(now=provider.clock.now())
    )
    for step in STEPS:
        answer = await step(auth)
        if answer is not None:
            return answer
    return await issue_code(auth)


async def issue_code(auth: Authorization) -> Response:
    """authlib makes the code; it is stored with the sign-in's client and the interaction's end in one write."""
    provider, state, active, client = auth.provider, auth.state, auth.active, auth.grant.request.client
    assert active is not None and auth.resolved is not None and auth.oauth_request is not None
    state.code_ttl = provider.settings.code_ttl
    state.effects.spend_pushed = auth.resolved.pushed_digest
    state.login = SignIn(
        sid=active.row.sid, auth_time=active.row.auth_time, acr=active.row.acr, amr=list(active.row.amr)
    )
    oauth_request, grant = auth.oauth_request, auth.grant
    try:
        status, _body, headers = await run_with_state(
            state,
            lambda: provider.server.create_authorization_response(oauth_request, grant_user=active.user, grant=grant),
        )
    except OAuth2Error as error:
        return error_response(auth.request, provider, error)
    location = dict(headers).get("Location", "")
    await auth.session.close()  # the reads are done: the write below is the request's one write transaction
    interaction_id = auth.interaction_id
    # The sign-in's client remembered on its session, the parked request ended: with the code, in one write.
    added = provider.sessions.adding_client(active.row, client.client_id)
    record_sign_in: list[Write] = [added] if added is not None else []
    if interaction_id:
        record_sign_in.append(provider.interactions.finishing(interaction_id))

    if status == 302 and state.effects.new_code:
        try:
            failed = await apply_in_transaction(provider.sessionmaker, state.effects, state.now, also=record_sign_in)
        except SQLAlchemyError:
            failed = "temporarily_unavailable"
        if failed:
            return provider.pages.error(auth.request, "error.unavailable", 503)
    elif interaction_id:
        await provider.interactions.finish(interaction_id)
    response = see_other(add_params_to_uri(location, [("iss", provider.issuer)]))
    if interaction_id:
        response.delete_cookie(INTERACTION_COOKIE, path="/auth")
    return response
