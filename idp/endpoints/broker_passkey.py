"""Proving the existing account with one of its passkeys (instead of its password) to link an upstream identity:
``/auth/broker/passkey/options`` then ``/auth/broker/passkey``, the same JSON ceremony as the sign-in passkey
(``idp.endpoints.passkeys``), bound to the account the parked upstream sign-in matched."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idp.endpoints.broker import sign_in_federated
from idp.endpoints.broker_confirm import load_link_candidate, write_link
from idp.endpoints.passkeys import _credential, _json_body, _problem, _with_ceremony
from idp.federation.logins import COOKIE as BROKER_COOKIE
from idp.http import NO_STORE
from idp.login_throttle import is_attempt_admitted
from idp.provider import Provider
from idp.webauthn_keys import COOKIE, PasskeyRejected

PURPOSE = "second"  # a ceremony bound to one known account, as after a password


async def link_passkey_options(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    body = await _json_body(request, provider)
    if isinstance(body, Response):
        return body
    found = await load_link_candidate(request, provider)
    if found is None:
        return _problem("login_required", 401)
    cookie, options = await provider.passkeys.authentication_options(PURPOSE, found.user.id)
    return _with_ceremony(provider, Response(options, media_type="application/json", headers=NO_STORE), cookie)


async def link_passkey_finish(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    body = await _json_body(request, provider)
    if isinstance(body, Response):
        return body
    found = await load_link_candidate(request, provider)
    if found is None:
        return _problem("login_required", 401)
    if not await is_attempt_admitted(provider.throttle, request, "passkey", found.user.id):
        return _problem("too_many_attempts", 429)
    try:
        await provider.passkeys.authenticate(request.cookies.get(COOKIE), PURPOSE, found.user.id, _credential(body))
    except PasskeyRejected:
        return _problem("passkey_rejected", 400)
    user = await write_link(provider, found, "passkey", request.cookies.get(BROKER_COOKIE))
    if user is None:
        return _problem("login_required", 409)
    signed_in = await sign_in_federated(
        request, provider, found.row, user, found.claims, found.login.interaction, ("hwk",)
    )
    response = JSONResponse({"redirect": signed_in.headers["location"]}, headers=NO_STORE)
    for name, value in signed_in.raw_headers:
        if name == b"set-cookie":
            response.raw_headers.append((name, value))
    return response
