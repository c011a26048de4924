"""The consent page: which city app asks for what; the answer is remembered per user and client."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from idp.consents import record_consent
from idp.interactions import COOKIE as INTERACTION_COOKIE
from idp.page_forms import PageRefused, read_page_form
from idp.pages import see_other
from idp.provider import Provider
from idp.storage.models import Client, OpdUnit


async def consent_page(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    interaction_id = request.query_params.get("interaction")
    found = await _load(request, provider, interaction_id)
    if found is None:
        return provider.pages.error(request, "error.expired", 400)
    client, scopes, opd_name, params = found
    return provider.pages.render(
        request,
        "consent.html",
        interaction=interaction_id,
        client_name=client.name,
        scopes=scopes,
        opd_name=opd_name,
        ui_locales=params.get("ui_locales"),
    )


async def consent_submit(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    try:
        form = await read_page_form(request, provider)
    except PageRefused as refused:
        return refused.render(request, provider)
    interaction_id = form.get("interaction", "")
    found = await _load(request, provider, interaction_id)
    active = await provider.sessions.load(request.cookies.get(provider.session_cookie))
    if found is None or active is None:
        return provider.pages.error(request, "error.expired", 400)
    client, scopes, _opd, params = found
    if form.get("decision") != "allow":
        redirect_uri = params.get("redirect_uri")
        await provider.interactions.finish(interaction_id)
        if redirect_uri and redirect_uri in client.redirect_uris:
            query = [("error", "access_denied"), ("error_description", "The user denied the request.")]
            if params.get("state"):
                query.append(("state", params["state"]))
            query.append(("iss", provider.issuer))
            return see_other(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(query)}")
        return provider.pages.error(request, "error.back", 400)
    now = provider.clock.now()
    async with provider.sessionmaker() as session, session.begin():
        await record_consent(session, active.user.id, client.client_id, scopes, now)
    await provider.interactions.update(interaction_id, consent_given=True)
    return see_other(f"/auth/authorize/resume?{urlencode({'interaction': interaction_id})}")


async def _load(
    request: Request, provider: Provider, interaction_id: str | None
) -> tuple[Client, list[str], str | None, dict[str, str]] | None:
    interaction = await provider.interactions.load(interaction_id, request.cookies.get(INTERACTION_COOKIE))
    if interaction is None:
        return None
    client = (await provider.clients.get_many({interaction.client_id})).get(interaction.client_id)
    if client is None:
        return None
    params = dict((k, v) for k, v in interaction.params)
    allowed = set(client.scope.split())
    scopes = [s for s in params.get("scope", "").split() if s in allowed]
    opd_name = None
    if client.opd_id is not None:
        async with provider.sessionmaker() as session:
            unit = await session.get(OpdUnit, client.opd_id)
            opd_name = unit.name if unit else None
    return client, scopes, opd_name, params
