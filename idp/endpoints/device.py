"""RFC 8628 at the provider: the device authorization endpoint (§3.1–3.2) and the page where a person enters the
user code shown on a screen without a keyboard (§3.3), in Bahasa Indonesia first.

Entering codes is rate limited per address (guessing one of 20^8 codes live for 10 minutes must stay hopeless);
a person who is not signed in signs in first and comes back to the same code.
"""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.oauth2.rfc6749 import OAuth2Error, UnauthorizedClientError
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from idp.endpoints.token import _throttled
from idp.http import oauth_error, oauth_json, read_oauth_form
from idp.interactions import COOKIE as INTERACTION_COOKIE
from idp.oauth.adapters import HubClient
from idp.oauth.client_jwks import preload_client_keys
from idp.oauth.client_profile import check_issue_profile, preload_served_apps
from idp.oauth.device import DEVICE_CODE_TTL, DeviceCodeGrant, display_user_code, new_device_code, normalize_user_code
from idp.oauth.grants import TOKEN_AUTH_METHODS
from idp.oauth.request import HubRequest
from idp.oauth.resource import check_resources_allowed, requested_resources
from idp.oauth.state import Preloaded, current, run_with_state
from idp.oauth.store import (
    apply_effects_and_add,
    candidate_client_ids,
    load_device_code,
    record_device_decision,
)
from idp.page_forms import PageRefused, read_page_form
from idp.pages import see_other
from idp.provider import Provider
from idp.storage.models import DeviceCode
from idp.throttle.store import Hit
from policies.limits import LimitSpec

# Per address: after 5 wrong codes, 10 more a minute (only wrong codes count, as for client secrets).
USER_CODE_LIMIT = LimitSpec(id="device-user-code-per-ip", per="ip", route_class="login", rate=10, period=60, burst=5)
RESUME_PARAM = "device_user_code"  # an interaction parked at the login page for this page


async def device_authorization_endpoint(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    read = await read_oauth_form(request)  # every value within its grammar before storage or authlib sees it
    if isinstance(read, Response):
        return read
    pairs, form = read
    candidates = candidate_client_ids(form, request.headers.get("authorization"))
    refused = await _throttled(provider.throttle.current(), min(candidates) if candidates else None, request)
    if refused is not None:
        return refused
    now = provider.clock.now()
    state = Preloaded(now=now)
    state.clients = await provider.clients.get_many(candidates)
    await preload_client_keys(provider.client_keys, state, form)
    try:
        await preload_served_apps(provider.served_apps, state, candidates, form.get("resource", []))
    except SQLAlchemyError:
        return oauth_error(503, "temporarily_unavailable", "The service is temporarily unavailable.")
    oauth_request = HubRequest("POST", f"{provider.base}/device_authorization", request.headers, pairs)
    scope = form.get("scope", [""])[0]
    resources: list[str] = []

    def authenticate() -> HubClient:
        client: HubClient = provider.server.authenticate_client(
            oauth_request, TOKEN_AUTH_METHODS, "device_authorization"
        )
        if not client.check_grant_type(DeviceCodeGrant.GRANT_TYPE):
            raise UnauthorizedClientError("The client may not use the device grant.")
        current().client_row = client.row  # what the scope check reads
        provider.server.validate_requested_scope(scope)
        resources.extend(requested_resources(form))
        check_resources_allowed(resources, client.row.resources)
        check_issue_profile(provider.ctx.policies.current, client.row, resources)
        return client

    try:
        client = await run_with_state(state, authenticate)
    except OAuth2Error as error:
        status, body, headers = error()
        return oauth_json(status, body, headers)
    granted = " ".join(provider.ctx.policies.current.allowed_scopes(client.client_id, scope.split()))
    device_code, row = new_device_code(client.client_id, granted, resources, now)
    try:
        async with provider.sessionmaker() as session, session.begin():
            if await apply_effects_and_add(session, state.effects, now, row):
                return oauth_error(401, "invalid_client", "The client assertion was already used.")
    except SQLAlchemyError:
        return oauth_error(503, "temporarily_unavailable", "The service is temporarily unavailable.")
    page = f"{provider.base}/device"
    return oauth_json(
        200,
        {
            "device_code": device_code,
            "user_code": display_user_code(row.user_code),
            "verification_uri": page,
            "verification_uri_complete": f"{page}?{urlencode({'user_code': row.user_code})}",
            "expires_in": DEVICE_CODE_TTL,
            "interval": row.interval,
        },
    )


async def device_page(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    typed = request.query_params.get("user_code", "")[:20]
    code = normalize_user_code(typed)
    return provider.pages.render(
        request, "device.html", step="enter", user_code=display_user_code(code) if code else typed
    )


async def device_submit(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    try:
        form = await read_page_form(request, provider)
    except PageRefused as refused:
        return refused.render(request, provider)
    typed = form.get("user_code", "")[:20]
    store = provider.throttle.current().store
    verdict = await store.check([Hit(USER_CODE_LIMIT, _address(request), consume=False)])
    if not verdict[0].allowed:
        return provider.pages.render(
            request, "device.html", status=429, step="enter", user_code=typed, error_key="device.throttled"
        )
    code = normalize_user_code(typed)
    now = provider.clock.now()
    row = await _load_pending(provider, code, now) if code else None
    if row is None:
        await store.check([Hit(USER_CODE_LIMIT, _address(request))])  # a wrong code spends the allowance
        return provider.pages.render(
            request, "device.html", status=400, step="enter", user_code=typed, error_key="device.unknown"
        )
    active = await provider.sessions.load(request.cookies.get(provider.session_cookie))
    if active is None:
        return await _sign_in_first(provider, row)
    client = (await provider.clients.get_many({row.client_id})).get(row.client_id)
    decision = form.get("decision")
    if decision not in ("allow", "deny") or client is None:
        return provider.pages.render(
            request,
            "device.html",
            step="confirm",
            user_code=display_user_code(row.user_code),
            client_name=client.name if client else row.client_id,
            scopes=row.scope.split(),
        )
    approved = decision == "allow"
    values = (
        {
            "status": "approved",
            "user_id": active.user.id,
            "session_id": active.row.sid,
            "auth_time": active.row.auth_time,
            "acr": active.row.acr,
            "amr": list(active.row.amr),
        }
        if approved
        else {"status": "denied"}
    )
    async with provider.sessionmaker() as session, session.begin():
        await record_device_decision(session, row.code_digest, values)
    return provider.pages.render(request, "device.html", step="done", approved=approved, client_name=client.name)


async def _load_pending(provider: Provider, code: str, now: int) -> DeviceCode | None:
    async with provider.sessionmaker() as session:
        row = await load_device_code(session, code)
    if row is None or row.status != "pending" or row.expires_at <= now:
        return None
    return row


async def _sign_in_first(provider: Provider, row: DeviceCode) -> Response:
    interaction_id = await provider.interactions.create(row.client_id, [(RESUME_PARAM, row.user_code)])
    response = see_other(f"/auth/login?{urlencode({'interaction': interaction_id})}")
    response.set_cookie(
        INTERACTION_COOKIE,
        interaction_id,
        httponly=True,
        samesite="lax",
        secure=provider.settings.uses_tls,
        path="/auth",
    )
    return response


def resume_target(params: list[tuple[str, str]]) -> str | None:
    """Where a login parked for this page continues: back to the code, now signed in. Only an interaction made by
    this page (that one parameter alone): an authorization request carrying the name stays one."""
    if len(params) == 1 and params[0][0] == RESUME_PARAM:
        return f"/auth/device?{urlencode({'user_code': params[0][1]})}"
    return None


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
