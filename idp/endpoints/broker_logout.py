"""Logout across the broker, both ways, and unlinking an identity from ``/account``.

- RP-initiated logout at the hub of a brokered session continues at the upstream's ``end_session_endpoint``
  (``id_token_hint``, our ``post_logout_redirect_uri``, a signed ``state`` naming where to go after);
  ``/auth/broker/logged-out`` takes the person there.
- ``/auth/broker/{slug}/backchannel-logout`` receives the upstream's logout token (OIDC Back-Channel Logout
  1.0 §2.5-2.8): signature, claims and single use checked, then the hub sessions it names end (and with them
  every client's, by the hub's own back-channel logout, and the gateway's).
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idp.accounts import load_user
from idp.endpoints.account_session import account_form_action
from idp.endpoints.broker import load_enabled_upstream
from idp.federation.discovery import UpstreamUnavailable
from idp.federation.linking import list_identities, unlink_identity
from idp.federation.relying_party import UpstreamRefused, verify_upstream_jwt
from idp.federation.sessions import LogoutTokenInvalid, check_logout_claims
from idp.http import FormError, read_form
from idp.oauth.store import add_replay_mark
from idp.pages import see_other
from idp.provider import Provider
from idp.sessions import ActiveSession

log = logging.getLogger("gerbang.federation")
NO_STORE = {"Cache-Control": "no-store"}


async def upstream_logout_redirect(provider: Provider, sid: str, target: str | None) -> str | None:
    """Where the browser goes to end the upstream session too, or ``None`` (not brokered, or no endpoint)."""
    brokered = await provider.federated_sessions.load(sid)
    if brokered is None:
        return None
    row = await load_enabled_upstream(provider, brokered.idp_slug)
    if row is None:
        return None
    try:
        metadata = await provider.upstreams.metadata(row.issuer)
    except UpstreamUnavailable as exc:
        log.warning("upstream logout skipped", extra={"detail": str(exc)[:300]})
        return None
    if not metadata.end_session_endpoint:
        return None
    query = urlencode(
        {
            "id_token_hint": brokered.id_token,
            "client_id": row.client_id,
            "post_logout_redirect_uri": f"{provider.issuer}/auth/broker/logged-out",
            "state": provider.federated_sessions.sign_return(target),
        }
    )
    separator = "&" if "?" in metadata.end_session_endpoint else "?"
    return f"{metadata.end_session_endpoint}{separator}{query}"


async def logged_out(request: Request) -> Response:
    """Back from the upstream's logout: on to the relying party's registered URI (signed by us), or our page."""
    provider: Provider = request.app.state.provider
    valid, target = provider.federated_sessions.open_return(request.query_params.get("state"))
    if valid and target:
        return see_other(target)
    return provider.pages.render(request, "logged_out.html")


async def backchannel_logout(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    row = await load_enabled_upstream(provider, request.path_params["slug"])
    if row is None:
        return JSONResponse({"error": "invalid_request"}, 400, headers=NO_STORE)
    try:
        token = dict(await read_form(request)).get("logout_token", "")
        metadata = await provider.upstreams.metadata(row.issuer)
        claims = await verify_upstream_jwt(token, metadata, provider.upstreams)
        now = provider.clock.now()
        check_logout_claims(claims, metadata.issuer, row.client_id, now)
        await _mark_used(provider, f"bcl:{row.slug}:{claims['jti']}"[:200], now + 600)
    except (FormError, UpstreamRefused, LogoutTokenInvalid, IntegrityError) as exc:
        log.warning("upstream logout token refused", extra={"idp": row.slug, "detail": str(exc)[:300]})
        return JSONResponse(
            {"error": "invalid_request", "error_description": "The logout token is not valid."}, 400, headers=NO_STORE
        )
    except (UpstreamUnavailable, SQLAlchemyError) as exc:
        log.warning("upstream logout token not checked", extra={"idp": row.slug, "detail": str(exc)[:300]})
        return JSONResponse({"error": "temporarily_unavailable"}, 503, headers=NO_STORE)
    ended = 0
    for session_row in await provider.federated_sessions.hub_sessions_named(row.slug, claims):
        await provider.end_session(session_row)
        ended += 1
    log.info("upstream back-channel logout", extra={"idp": row.slug, "sessions_ended": ended})
    return Response(status_code=200, headers=NO_STORE)


async def _mark_used(provider: Provider, key: str, expires_at: int) -> None:
    """A logout token's ``jti`` is single use (§2.6 step 8 allows rejecting a replay); a second insert fails."""
    async with provider.sessionmaker() as session, session.begin():
        add_replay_mark(session, key, expires_at)


@account_form_action
async def identity_unlink(
    request: Request, provider: Provider, active: ActiveSession, form: dict[str, str]
) -> Response:
    """Unlink one upstream identity; an account with no password keeps its last one (its only way in)."""
    identity_id = form.get("identity_id", "")
    if not identity_id.isdigit() or len(identity_id) > 12:
        return see_other("/account?done=identity_kept")
    async with provider.sessionmaker() as session, session.begin():
        user = await load_user(session, active.user.id)
        linked = await list_identities(session, active.user.id)
        if user is None or (user.password_hash is None and len(linked) <= 1):
            return see_other("/account?done=identity_kept")
        removed = await unlink_identity(
            session, active.user.id, int(identity_id), actor=f"user:{active.user.id}", now=provider.clock.now()
        )
    return see_other("/account?done=identity_unlinked" if removed else "/account?done=identity_kept")
