"""The consent page: which city app asks for what; the answer is remembered per user and client.

For a ``session`` app behind the gateway (the gateway's own client signs in for it) the page names the app, its
OPD and the identity claims the app's assertion carries, and the agreement is kept per person and app
(``idp.app_agreement``); declining ends there, on the hub: the app receives nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response

from idp.app_agreement import AppToAgree, load_app_to_agree, record_agreement
from idp.clients import GATEWAY_CLIENT_ID
from idp.consents import record_consent
from idp.interactions import COOKIE as INTERACTION_COOKIE
from idp.org import load_opd_name_by_id
from idp.page_forms import PageRefused, read_page_form
from idp.pages import see_other
from idp.provider import Provider
from idp.storage.models import Client


@dataclass(frozen=True)
class Asked:
    """What the parked request asks: a client's scopes, or (a session app's sign-in) the app's claims."""

    client: Client
    scopes: list[str]
    opd_name: str | None
    params: dict[str, str]
    app: AppToAgree | None = None


async def consent_page(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    interaction_id = request.query_params.get("interaction")
    asked = await _load(request, provider, interaction_id)
    if asked is None:
        return provider.pages.error(request, "error.expired", 400)
    return _render(request, provider, asked, interaction_id)


def _render(request: Request, provider: Provider, asked: Asked, interaction_id: str | None) -> Response:
    app = asked.app
    return provider.pages.render(
        request,
        "consent.html",
        interaction=interaction_id,
        client_name=app.name if app else asked.client.name,
        scopes=asked.scopes,
        claims=app.claims if app else None,
        opd_name=app.opd_name if app else asked.opd_name,
        ui_locales=asked.params.get("ui_locales"),
    )


async def consent_submit(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    try:
        form = await read_page_form(request, provider)
    except PageRefused as refused:
        return refused.render(request, provider)
    interaction_id = form.get("interaction", "")
    asked = await _load(request, provider, interaction_id)
    active = await provider.sessions.load(request.cookies.get(provider.session_cookie))
    if asked is None or active is None:
        return provider.pages.error(request, "error.expired", 400)
    if form.get("decision") != "allow":
        await provider.interactions.finish(interaction_id)
        return _declined(request, provider, asked)
    if asked.app is not None and form.get("claims", "").split() != list(asked.app.claims):
        return _render(request, provider, asked, interaction_id)  # the app's claims changed meanwhile: ask anew
    now = provider.clock.now()
    for attempt in (1, 2):  # a second tab may have recorded the same answer a moment before: update it
        try:
            async with provider.sessionmaker() as session, session.begin():
                if asked.app is not None:
                    await record_agreement(session, active.user.id, asked.app, now)
                else:
                    await record_consent(session, active.user.id, asked.client.client_id, asked.scopes, now)
            break
        except IntegrityError:
            if attempt == 2:
                raise
    await provider.interactions.update(interaction_id, consent_given=True)
    return see_other(f"/auth/authorize/resume?{urlencode({'interaction': interaction_id})}")


def _declined(request: Request, provider: Provider, asked: Asked) -> Response:
    """A client hears ``access_denied`` at its redirect URI; a session app's sign-in ends on the hub (its
    callback would only start another sign-in)."""
    redirect_uri = asked.params.get("redirect_uri")
    if asked.app is not None:
        return provider.pages.render(
            request, "consent_declined.html", app_name=asked.app.name, ui_locales=asked.params.get("ui_locales")
        )
    if redirect_uri and redirect_uri in asked.client.redirect_uris:
        query = [("error", "access_denied"), ("error_description", "The user denied the request.")]
        if asked.params.get("state"):
            query.append(("state", asked.params["state"]))
        query.append(("iss", provider.issuer))
        return see_other(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(query)}")
    return provider.pages.error(request, "error.back", 400)


async def _load(request: Request, provider: Provider, interaction_id: str | None) -> Asked | None:
    interaction = await provider.interactions.load(interaction_id, request.cookies.get(INTERACTION_COOKIE))
    if interaction is None:
        return None
    client = (await provider.clients.get_many({interaction.client_id})).get(interaction.client_id)
    if client is None:
        return None
    params = dict((k, v) for k, v in interaction.params)
    allowed = set(client.scope.split())
    scopes = [s for s in params.get("scope", "").split() if s in allowed]
    async with provider.sessionmaker() as session:
        if client.client_id == GATEWAY_CLIENT_ID:
            app = await load_app_to_agree(
                session,
                provider.settings.apps_domain,
                params.get("redirect_uri", ""),
                provider.ctx.policies.current.allowed_scopes,
            )
            return None if app is None else Asked(client, scopes, app.opd_name, params, app)
        unit_name = await load_opd_name_by_id(session, client.opd_id)
    return Asked(client, scopes, unit_name, params)
