"""Passkey ceremonies over JSON (the page's script calls ``navigator.credentials``):

- ``/account/passkeys/options`` + ``/account/passkeys``: add a passkey to the signed-in account;
- ``/auth/passkey/options`` + ``/auth/passkey``: sign in — ``purpose`` "second" after the password
  (``amr`` pwd+hwk) or "login" on its own, with user verification (``amr`` hwk+mfa). Both give ``acr`` 2.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idp.account_mail import send_credential_changed
from idp.accounts import load_user
from idp.endpoints.account_session import credential_form_action, load_account_session
from idp.fresh_auth import needs_reauth, reauth_json
from idp.http import NO_STORE
from idp.interactions import COOKIE as INTERACTION_COOKIE
from idp.login_throttle import is_attempt_admitted
from idp.pages import see_other
from idp.provider import Provider
from idp.second_factor import COOKIE as MFA_COOKIE
from idp.second_factor import LEVEL_TWO
from idp.security_events import record_security_event
from idp.sessions import ActiveSession
from idp.signin import complete_sign_in
from idp.webauthn_keys import CEREMONY_TTL, COOKIE, PasskeyRejected, credential_ref, parse_json_body

MAX_BODY = 32 * 1024
PURPOSES = ("login", "second")


async def register_options(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    active = await load_account_session(request, provider)
    body = await _json_body(request, provider)
    if isinstance(body, Response):
        return body
    if active is None:
        return _problem("login_required", 401)
    if needs_reauth(provider, active):
        return reauth_json(provider)
    cookie, options = await provider.passkeys.registration_options(active.user)
    return _with_ceremony(provider, Response(options, media_type="application/json", headers=NO_STORE), cookie)


async def register_finish(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    active = await load_account_session(request, provider)
    body = await _json_body(request, provider)
    if isinstance(body, Response):
        return body
    if active is None:
        return _problem("login_required", 401)
    if needs_reauth(provider, active):
        return reauth_json(provider)
    try:
        added = await provider.passkeys.register(
            request.cookies.get(COOKIE), active.user, _credential(body), str(body.get("name", ""))[:100].strip()
        )
    except PasskeyRejected:
        return _problem("passkey_rejected", 400)
    await record_security_event(
        provider.sessionmaker, "mfa.changed", provider.clock.now(), user_id=active.user.id, reason="passkey_added"
    )
    await send_credential_changed(provider, active.user, "passkey_added", ref=credential_ref(added.credential_id))
    return JSONResponse({"ok": True}, headers=NO_STORE)


@credential_form_action
async def remove(request: Request, provider: Provider, active: ActiveSession, form: dict[str, str]) -> Response:
    if await provider.passkeys.remove(active.user.id, form.get("credential_id", "")[:1400]):
        await record_security_event(
            provider.sessionmaker, "mfa.changed", provider.clock.now(), user_id=active.user.id, reason="passkey_removed"
        )
        await send_credential_changed(provider, active.user, "passkey_removed")
    return see_other("/account?done=saved")


async def sign_in_options(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    body = await _json_body(request, provider)
    if isinstance(body, Response):
        return body
    purpose = body.get("purpose")
    if purpose not in PURPOSES:
        return _problem("invalid_request", 400)
    user_id = None
    if purpose == "second":
        found = await provider.challenges.load(request.cookies.get(MFA_COOKIE))
        if found is None:
            return _problem("login_required", 401)
        user_id = found[1].id
    cookie, options = await provider.passkeys.authentication_options(purpose, user_id)
    return _with_ceremony(provider, Response(options, media_type="application/json", headers=NO_STORE), cookie)


async def sign_in_finish(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    body = await _json_body(request, provider)
    if isinstance(body, Response):
        return body
    purpose, credential = body.get("purpose"), _credential(body)
    if purpose not in PURPOSES:
        return _problem("invalid_request", 400)
    challenge = await provider.challenges.load(request.cookies.get(MFA_COOKIE)) if purpose == "second" else None
    if purpose == "second" and challenge is None:
        return _problem("login_required", 401)
    subject = challenge[1].id if challenge else str(credential.get("id", ""))
    if not await is_attempt_admitted(provider.throttle, request, "passkey", subject):
        return _problem("too_many_attempts", 429)
    try:
        verified = await provider.passkeys.authenticate(
            request.cookies.get(COOKIE), purpose, challenge[1].id if challenge else None, credential
        )
    except PasskeyRejected:
        return _problem("passkey_rejected", 400)
    if challenge is not None:
        row, user = challenge
        if not await provider.challenges.finish(row):
            return _problem("login_required", 401)
        amr, interaction = list(dict.fromkeys([*row.first_factor, "hwk"])), row.interaction
    else:
        async with provider.sessionmaker() as session:
            loaded = await load_user(session, verified.user_id)
        if loaded is None or loaded.disabled:
            return _problem("passkey_rejected", 400)
        user, amr = loaded, ["hwk", "mfa"]  # possession + the authenticator's own PIN or biometric
        interaction = await _live_interaction(request, provider, str(body.get("interaction", "")))
    signed_in = await complete_sign_in(request, provider, user, acr=LEVEL_TWO, amr=amr, interaction_id=interaction)
    response = JSONResponse({"redirect": signed_in.headers["location"]}, headers=NO_STORE)
    for name, value in signed_in.raw_headers:
        if name == b"set-cookie":
            response.raw_headers.append((name, value))
    response.delete_cookie(MFA_COOKIE, path="/auth", secure=provider.settings.uses_tls, httponly=True)
    return response


async def _json_body(request: Request, provider: Provider) -> dict[str, Any] | Response:
    """The JSON body, bounded, with the page's CSRF token in it (``csrf_token``)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return _problem("invalid_request", 415)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            return _problem("invalid_request", 413)
    try:
        body = parse_json_body(bytes(raw))
    except PasskeyRejected:
        return _problem("invalid_request", 400)
    if not provider.pages.is_csrf_valid(request, {"csrf_token": str(body.get("csrf_token", ""))}):
        return _problem("csrf", 403)
    return body


def _credential(body: dict[str, Any]) -> dict[str, Any]:
    credential = body.get("credential")
    return credential if isinstance(credential, dict) else {}


async def _live_interaction(request: Request, provider: Provider, value: str) -> str | None:
    if not value:
        return None
    found = await provider.interactions.load(value, request.cookies.get(INTERACTION_COOKIE))
    return value if found is not None else None


def _with_ceremony(provider: Provider, response: Response, cookie: str) -> Response:
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=provider.settings.uses_tls,
        path="/",
        max_age=CEREMONY_TTL,
    )
    return response


def _problem(error: str, status: int) -> Response:
    return JSONResponse({"error": error}, status_code=status, headers=NO_STORE)
