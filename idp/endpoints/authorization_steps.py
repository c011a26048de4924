"""The authorization endpoint's checks, in the order they run (node oidc-provider's authorization pipeline is the
model). Each step reads what the earlier ones loaded into ``Authorization`` and returns None to go on, or the
response that ends the request: a page while the client's redirect URI is not yet matched, then an error
redirected to the client (RFC 6749 §4.1.2.1), or a park at the login, step-up or consent page.

``load_*`` steps read storage or settings; ``check_*`` steps decide.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import OAuth2Error
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from idp.app_agreement import has_agreed, load_app_to_agree
from idp.clients import GATEWAY_CLIENT_ID
from idp.endpoints.broker import load_enabled_upstream
from idp.http import datalist
from idp.interactions import COOKIE as INTERACTION_COOKIE
from idp.oauth.client_profile import preload_served_apps
from idp.oauth.par import PushedRequestInvalid, ResolvedRequest, is_par_required
from idp.oauth.request import HubRequest
from idp.oauth.request_object import InvalidRequestObject
from idp.oauth.resolve import resolve_authorization_request
from idp.oauth.state import Preloaded, run_with_state
from idp.oauth.store import has_consent, is_nonce_seen
from idp.oauth.syntax import find_malformed
from idp.oauth.verify import TokenInvalid, verify_id_token
from idp.pages import see_other
from idp.provider import Provider
from idp.second_factor import is_step_up_needed
from idp.sessions import ActiveSession
from idp.storage.models import Interaction
from policies.model import Decision as PolicyDecision
from policies.model import Subject

log = logging.getLogger("gerbang.idp")

NONCE_WINDOW = 3600  # a nonce seen in a code of the last hour is a replay (the pruner keeps codes that long)
UNSUPPORTED = {"registration": "registration_not_supported"}


@dataclass
class Authorization:
    """One authorization request as the steps see it. ``sent`` are the parameters as sent, ``params`` the request
    they stand for (a pushed request or a request object resolved); ``parked`` what a login or consent page
    parks (with the ``request_uri``, so the resumed request is read from the pushed one again)."""

    request: Request
    provider: Provider
    sent: list[tuple[str, str]]
    interaction: Interaction | None
    interaction_id: str | None
    session: AsyncSession  # the request's one read transaction
    state: Preloaded
    client_id: str = ""
    resolved: ResolvedRequest | None = None
    params: list[tuple[str, str]] = field(default_factory=list)
    data: dict[str, list[str]] = field(default_factory=dict)
    parked: list[tuple[str, str]] = field(default_factory=list)
    active: ActiveSession | None = None
    oauth_request: HubRequest | None = None
    grant: Any = None  # authlib's authorization code grant, once the client and redirect URI are validated
    prompts: set[str] = field(default_factory=set)

    def first(self, name: str) -> str | None:
        return self.data.get(name, [None])[0]

    def page_error(self, detail: str) -> Response:
        return self.provider.pages.error(self.request, "error.back", 400, detail=detail)

    def client_error(self, code: str, description: str) -> Response:
        """An error at the client's validated redirect URI."""
        return redirect_with(
            self.grant.redirect_uri,
            self.provider,
            [("error", code), ("error_description", description)],
            self.first("state"),
        )

    async def park(self, page: str) -> Response:
        """Send the person to ``page`` (login, step-up, consent); ``/auth/authorize/resume`` continues after."""
        await self.session.close()  # the reads are done; never hold a connection while waiting for another
        interaction_id = self.interaction_id
        if interaction_id is None:
            interaction_id = await self.provider.interactions.create(self.grant.request.client.client_id, self.parked)
        response = see_other(f"{page}?{urlencode({'interaction': interaction_id})}")
        response.set_cookie(
            INTERACTION_COOKIE,
            interaction_id,
            httponly=True,
            samesite="lax",
            secure=self.provider.settings.uses_tls,
            path="/auth",
        )
        return response


Step = Callable[[Authorization], Awaitable[Response | None]]


async def check_request_syntax(auth: Authorization) -> Response | None:
    """Values outside their grammar; not yet known to be the client's redirect URI: a page, never a redirect."""
    malformed = find_malformed(auth.sent)
    return auth.page_error(f"invalid_request: {malformed}") if malformed is not None else None


async def load_client(auth: Authorization) -> Response | None:
    auth.client_id = datalist(auth.sent).get("client_id", [""])[0]
    auth.state.clients = await auth.provider.clients.get_many(
        {auth.client_id} if auth.client_id else set(), holding=auth.session
    )
    return None


async def load_request(auth: Authorization) -> Response | None:
    """RFC 9126 (PAR) and RFC 9101 (JAR): the request a ``request_uri`` or ``request`` stands for."""
    try:
        auth.resolved = await resolve_authorization_request(
            auth.provider.sessionmaker,
            auth.sent,
            auth.state.clients.get(auth.client_id),
            auth.provider.issuer,
            auth.state.now,
            first_visit=auth.interaction is None,
            key_sets=auth.provider.client_keys,
        )
    except (PushedRequestInvalid, InvalidRequestObject) as exc:
        return auth.page_error(str(exc))
    auth.params = auth.resolved.params
    malformed = find_malformed(auth.params)  # what a request object or a pushed request carried
    if malformed is not None:
        return auth.page_error(f"invalid_request: {malformed}")
    auth.data = datalist(auth.params)
    pushed = [(n, v) for n, v in auth.sent if n == "request_uri"] if auth.resolved.pushed_digest else []
    auth.parked = auth.params + pushed
    return None


async def load_served_apps(auth: Authorization) -> Response | None:
    """The apps the client serves or the request names: Kominfo's profile rule is checked with the request."""
    resources = auth.data.get("resource", [])
    await preload_served_apps(auth.provider.served_apps, auth.state, {auth.client_id}, resources, auth.session)
    return None


async def check_redirect_uri_present(auth: Authorization) -> Response | None:
    """OIDC Core §3.1.2.1, FAPI 2.0: ``redirect_uri`` is required even when the client registered one."""
    return auth.page_error("invalid_request: redirect_uri") if "redirect_uri" not in auth.data else None


async def load_session(auth: Authorization) -> Response | None:
    auth.active = await auth.provider.sessions.load(
        auth.request.cookies.get(auth.provider.session_cookie), auth.session
    )
    login_sid = auth.interaction.login_sid if auth.interaction is not None else None
    if login_sid and (auth.active is None or auth.active.row.sid != login_sid):
        auth.active = None  # the login made for this request is gone: sign in again
    return None


async def load_nonce_seen(auth: Authorization) -> Response | None:
    """authlib's ``exists_nonce`` asks; the answer is read here, before authlib runs."""
    nonce = auth.first("nonce")
    if nonce and auth.client_id:
        auth.state.nonce_seen = await is_nonce_seen(auth.session, auth.client_id, nonce, auth.state.now, NONCE_WINDOW)
    if auth.session.dirty:
        await auth.session.commit()  # the session's once-a-minute last_seen touch
    return None


async def check_client(auth: Authorization) -> Response | None:
    """authlib validates the client, its exact redirect URI, response type, scope, PKCE and nonce."""
    auth.oauth_request = HubRequest("GET", auth.provider.authorize_url, auth.request.headers, auth.params)
    user = auth.active.user if auth.active else None
    oauth_request = auth.oauth_request
    try:
        auth.grant = await run_with_state(
            auth.state, lambda: auth.provider.server.get_consent_grant(oauth_request, end_user=user)
        )
    except OAuth2Error as error:
        return error_response(auth.request, auth.provider, error)
    return None


async def check_unsupported_parameters(auth: Authorization) -> Response | None:
    for name, code in UNSUPPORTED.items():
        if name in auth.data:
            return auth.client_error(code, f"The '{name}' parameter is not supported.")
    return None


async def check_pushed_request(auth: Authorization) -> Response | None:
    """RFC 9126 §5: a client (or a hub) that requires PAR refuses a request that was not pushed."""
    assert auth.resolved is not None
    required = auth.provider.settings.require_pushed_authorization_requests
    if auth.resolved.pushed_digest is None and is_par_required(auth.grant.request.client.row, required):
        return auth.client_error("invalid_request", "This client must push its authorization requests (PAR).")
    return None


async def check_response_mode(auth: Authorization) -> Response | None:
    if auth.data.get("response_mode", ["query"])[0] != "query":
        return auth.client_error("invalid_request", "Only response_mode=query is supported.")
    return None


async def check_login(auth: Authorization) -> Response | None:
    """A sign-in that is fresh enough (``prompt=login``, ``max_age``) and names the ``id_token_hint``'s person;
    ``prompt=create`` goes to sign-up first; otherwise park at the login page (or an upstream's, ``idp_hint``)."""
    auth.prompts = set(auth.data.get("prompt", [""])[0].split())
    active, interaction = auth.active, auth.interaction
    fresh_login = interaction is not None and active is not None and interaction.login_sid == active.row.sid
    needs_login = active is None or (
        not fresh_login and is_login_expired(auth.data, active, auth.prompts, auth.state.now)
    )
    if active is not None and not needs_login and "id_token_hint" in auth.data:
        hint_sub = await load_hint_subject(auth.provider, auth.data["id_token_hint"][0])
        if hint_sub is None:
            return auth.client_error("invalid_request", "The id_token_hint is not valid.")
        needs_login = hint_sub != active.user.id
    if "create" in auth.prompts and (interaction is None or not interaction.login_sid):
        # OpenID Connect Initiating User Registration 1.0: sign-up first, then sign in and continue.
        return await auth.park("/auth/register")
    if needs_login:
        if "none" in auth.prompts:
            return auth.client_error("login_required", "The user must sign in.")
        return await auth.park(await load_login_page(auth.provider, auth.data.get("idp_hint", [""])[0]))
    return None


async def check_login_policy(auth: Authorization) -> Response | None:
    assert auth.active is not None
    if not login_decision(auth.provider, auth.active, auth.grant.request.client.client_id).allowed:
        return auth.client_error("access_denied", "The city's policy does not allow this sign-in.")
    return None


async def load_allowed_scope(auth: Authorization) -> Response | None:
    """Kominfo's rules narrow the requested scopes to those this client may be granted."""
    policies = auth.provider.ctx.policies.current
    requested = (auth.grant.request.scope or "").split()
    auth.grant.request.scope = " ".join(policies.allowed_scopes(auth.grant.request.client.client_id, requested))
    return None


async def check_step_up(auth: Authorization) -> Response | None:
    assert auth.active is not None
    if await is_step_up_needed(auth.provider.sessionmaker, auth.first("acr_values"), auth.active, auth.session):
        if "none" in auth.prompts:
            return auth.client_error("interaction_required", "A second factor is required.")
        return await auth.park("/auth/mfa/step-up")
    return None


async def check_consent(auth: Authorization) -> Response | None:
    assert auth.active is not None
    if auth.interaction is not None and auth.interaction.consent_given:
        return None
    client = auth.grant.request.client.row
    if client.client_id == GATEWAY_CLIENT_ID:
        return await check_app_agreement(auth)
    if "consent" not in auth.prompts and (
        client.first_party
        or await has_consent(auth.session, auth.active.user.id, client.client_id, auth.grant.request.scope)
    ):
        return None
    if "none" in auth.prompts:
        return auth.client_error("consent_required", "The user must consent.")
    return await auth.park("/auth/consent")


async def check_app_agreement(auth: Authorization) -> Response | None:
    """A session app's sign-in (the gateway's client, ``idp.app_agreement``): the person agreed to the claims the
    app receives, or is asked on the hub; an app the callback names no longer serves sessions is refused."""
    assert auth.active is not None
    provider = auth.provider
    app = await load_app_to_agree(
        auth.session,
        provider.settings.apps_domain,
        auth.grant.redirect_uri,
        provider.ctx.policies.current.allowed_scopes,
    )
    if app is None:
        return auth.client_error("access_denied", "The app this sign-in is for does not serve sessions.")
    if await has_agreed(auth.session, auth.active.user.id, app):
        return None
    if "none" in auth.prompts:
        return auth.client_error("consent_required", "The user must agree to share her identity with the app.")
    return await auth.park("/auth/consent")


STEPS: tuple[Step, ...] = (
    check_request_syntax,
    load_client,
    load_request,
    load_served_apps,
    check_redirect_uri_present,
    load_session,
    load_nonce_seen,
    check_client,  # from here on, errors are redirected to the client's validated redirect URI
    check_unsupported_parameters,
    check_pushed_request,
    check_response_mode,
    check_login,
    check_login_policy,
    load_allowed_scope,
    check_step_up,
    check_consent,
)


def login_decision(provider: Provider, active: ActiveSession, client_id: str) -> PolicyDecision:
    """Kominfo's provider rules: may this person sign in to this client? Denials are logged."""
    user = active.user
    subject = Subject(
        sub=user.id,
        roles=tuple(sorted({m.role for m in user.memberships})),
        opd_paths=tuple(sorted({m.opd.path for m in user.memberships})),
        acr=active.row.acr,
    )
    decision = provider.ctx.policies.current.decide_login(subject, client_id)
    if not decision.allowed or decision.report_only:
        log.info(
            "login policy decision",
            extra={
                "client_id": client_id,
                "sub": user.id,
                "allowed": decision.allowed,
                "rule_ids": list(decision.rule_ids),
                "report_only": list(decision.report_only),
            },
        )
    return decision


async def load_login_page(provider: Provider, idp_hint: str) -> str:
    """``idp_hint=slug`` (Keycloak's kc_idp_hint) goes straight to that upstream; else the sign-in page."""
    if idp_hint and await load_enabled_upstream(provider, idp_hint) is not None:
        return f"/auth/broker/{idp_hint}/start"
    return "/auth/login"


def is_login_expired(data: dict[str, list[str]], active: ActiveSession, prompts: set[str], now: int) -> bool:
    if "login" in prompts:
        return True
    max_age = data.get("max_age", [None])[0]
    if max_age is not None and max_age.isdigit():
        # max_age=0 is prompt=login (OIDC Core §3.1.2.1); times are whole seconds.
        return int(max_age) == 0 or now - active.row.auth_time > int(max_age)
    return False


async def load_hint_subject(provider: Provider, hint: str) -> str | None:
    try:
        claims = await verify_id_token(provider.keys, hint, provider.issuer, now=provider.clock.now())
    except TokenInvalid:
        return None
    return str(claims.get("sub"))


def redirect_with(redirect_uri: str, provider: Provider, params: list[tuple[str, str]], state: str | None) -> Response:
    """A response redirected to the client, with ``state`` and ``iss`` (RFC 9207)."""
    if state:
        params.append(("state", state))
    params.append(("iss", provider.issuer))
    return see_other(add_params_to_uri(redirect_uri, params))


def error_response(request: Request, provider: Provider, error: OAuth2Error) -> Response:
    """authlib's error: redirected when it names a validated redirect URI, else a page."""
    if error.redirect_uri:
        params = [("error", error.error)]
        if error.description:
            params.append(("error_description", error.description))
        return redirect_with(error.redirect_uri, provider, params, error.state)
    return provider.pages.error(request, "error.back", 400, detail=error.description or error.error)
