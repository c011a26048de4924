"""Signing in through an upstream provider: ``/auth/broker/{slug}/start`` sends the person there, the
``callback`` checks the answer (``idp.federation.relying_party``) and decides what it becomes
(``idp.federation.linking``): a sign-in, a confirmation page for a new account, or the linking page.

An upstream that is down, slow or answers garbage gives the sign-in page with a clear message and the
password form; nothing is written until the person's account and link can be written together.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from idp.endpoints.login import _interaction_context
from idp.federation import registry
from idp.federation.discovery import UpstreamUnavailable
from idp.federation.linking import federated_amr, local_acr, record_identity_login, resolve
from idp.federation.logins import COOKIE
from idp.federation.registry import open_credentials
from idp.federation.relying_party import (
    UpstreamRefused,
    build_authorization_request,
    check_authorization_response,
    exchange_code,
)
from idp.federation.sealing import SealBroken
from idp.interactions import COOKIE as INTERACTION_COOKIE
from idp.pages import see_other
from idp.provider import Provider
from idp.signin import complete_sign_in
from idp.storage.models import UpstreamIdp, User

log = logging.getLogger("gerbang.federation")


async def load_enabled_upstream(provider: Provider, slug: str) -> UpstreamIdp | None:
    async with provider.sessionmaker() as session:
        return await registry.load_enabled_upstream(session, slug)


def callback_uri(provider: Provider, slug: str) -> str:
    return f"{provider.issuer}/auth/broker/{slug}/callback"


async def broker_start(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    slug = request.path_params["slug"]
    interaction_id = request.query_params.get("interaction") or None
    context = await _interaction_context(request, provider, interaction_id)
    if context is None:
        return provider.pages.error(request, "error.expired", 400)
    row = await load_enabled_upstream(provider, slug)
    if row is None:
        return provider.pages.error(request, "broker.unknown", 404)
    try:
        metadata = await provider.upstreams.metadata(row.issuer)
    except UpstreamUnavailable as exc:
        return await broker_failed(request, provider, interaction_id, "broker.unavailable", 502, str(exc))
    start = build_authorization_request(
        row, metadata, callback_uri(provider, slug), await _wanted_acrs(provider, row, interaction_id, request)
    )
    await provider.federation_logins.start(slug, start.state, start.nonce, start.code_verifier, interaction_id)
    response = see_other(start.url)
    response.set_cookie(
        COOKIE,
        start.state,
        httponly=True,
        samesite="lax",
        secure=provider.settings.uses_tls,
        path="/auth/broker",
        max_age=600,
    )
    return response


async def broker_callback(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    slug = request.path_params["slug"]
    params = {k: v for k, v in request.query_params.items()}
    login = await provider.federation_logins.load(params.get("state"), request.cookies.get(COOKIE), parked=False)
    if login is None or login.idp_slug != slug or not await provider.federation_logins.take(params["state"]):
        return provider.pages.error(request, "error.expired", 400)
    interaction_id = login.interaction
    row = await load_enabled_upstream(provider, slug)
    if row is None:
        return provider.pages.error(request, "broker.unknown", 404)
    now = provider.clock.now()
    try:
        metadata = await provider.upstreams.metadata(row.issuer)
        code = check_authorization_response(params, metadata)
        verified = await exchange_code(
            row,
            open_credentials(row, provider.settings.effective_secret),
            metadata,
            provider.upstreams,
            code=code,
            redirect_uri=callback_uri(provider, slug),
            code_verifier=login.code_verifier,
            nonce=login.nonce,
            now=now,
        )
    except UpstreamUnavailable as exc:
        return await broker_failed(request, provider, interaction_id, "broker.unavailable", 502, str(exc))
    except (UpstreamRefused, SealBroken) as exc:
        key = "broker.cancelled" if params.get("error") == "access_denied" else "broker.refused"
        return await broker_failed(request, provider, interaction_id, key, 400, str(exc))
    claims = {**verified.claims, "_id_token": verified.id_token}
    async with provider.sessionmaker() as session:
        resolution = await resolve(session, row, verified.claims)
    if resolution.kind == "signin":
        assert resolution.user is not None
        return await sign_in_federated(request, provider, row, resolution.user, claims, interaction_id)
    if resolution.kind == "refuse":
        return await broker_failed(
            request,
            provider,
            interaction_id,
            resolution.reason or "broker.refused",
            409,
            f"refused: {resolution.reason}",
        )
    value = await provider.federation_logins.park_claims(slug, claims, interaction_id)
    response = see_other("/auth/broker/confirm")
    response.set_cookie(
        COOKIE,
        value,
        httponly=True,
        samesite="lax",
        secure=provider.settings.uses_tls,
        path="/auth/broker",
        max_age=600,
    )
    return response


async def sign_in_federated(
    request: Request,
    provider: Provider,
    row: UpstreamIdp,
    user: User,
    claims: dict[str, Any],
    interaction_id: str | None,
    extra_amr: tuple[str, ...] = (),
) -> Response:
    """A hub session for ``user`` at the level the upstream's ``acr`` maps to, remembered as brokered."""
    id_token = claims["_id_token"]

    async def remember(session_row: Any) -> None:
        await provider.federated_sessions.record(session_row, row.slug, claims, id_token)

    await _touch_identity(provider, row.slug, claims["sub"])
    amr = list(dict.fromkeys([*federated_amr(claims), *extra_amr]))
    response = await complete_sign_in(
        request, provider, user, acr=local_acr(row, claims), amr=amr, interaction_id=interaction_id, on_session=remember
    )
    response.delete_cookie(COOKIE, path="/auth/broker")
    return response


async def broker_failed(
    request: Request, provider: Provider, interaction_id: str | None, message_key: str, status: int, detail: str
) -> Response:
    """The sign-in page again, with what went wrong and the password form (the detail goes to the log only)."""
    log.warning("upstream sign-in failed", extra={"reason": message_key, "detail": detail[:300]})
    context = await _interaction_context(request, provider, interaction_id) or {"client_name": None, "login_hint": None}
    response = provider.pages.render(
        request, "login.html", status=status, interaction=interaction_id, error_key=message_key, **context
    )
    response.delete_cookie(COOKIE, path="/auth/broker")
    return response


async def _touch_identity(provider: Provider, slug: str, subject: str) -> None:
    try:
        async with provider.sessionmaker() as session, session.begin():
            await record_identity_login(session, slug, subject, provider.clock.now())
    except SQLAlchemyError:
        log.warning("could not record the identity's last sign-in")


async def _wanted_acrs(provider: Provider, row: UpstreamIdp, interaction_id: str | None, request: Request) -> list[str]:
    """When the parked request asks for level 2, ask the upstream for the levels Kominfo maps to 2."""
    if not interaction_id:
        return []
    interaction = await provider.interactions.load(interaction_id, request.cookies.get(INTERACTION_COOKIE))
    params = dict((k, v) for k, v in interaction.params) if interaction else {}
    if "2" not in params.get("acr_values", "").split():
        return []
    return [upstream for upstream, local in row.acr_map.items() if local == "2"]
