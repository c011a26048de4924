"""``/auth/clients`` (RFC 7591 §3) and ``/auth/clients/{client_id}`` (RFC 7592 §2): the HTTP side of
``idp.client_registration``. Errors are RFC 7591 §3.2.2 JSON; bearer failures carry an RFC 6750 challenge."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from idp.client_registration import (
    RegistrationError,
    client_document,
    delete_client,
    load_registered,
    register_client,
    update_client,
)
from idp.http import oauth_error, oauth_json
from idp.provider import Provider

MAX_BODY = 64 * 1024


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise RegistrationError(401, "invalid_token", "a Bearer token is required")
    return token.strip()


async def _body(request: Request) -> bytes:
    if request.headers.get("content-type", "").split(";", 1)[0].strip().lower() != "application/json":
        raise RegistrationError(400, "invalid_client_metadata", "send the metadata as application/json")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise RegistrationError(400, "invalid_client_metadata", "the metadata is too large")
    return raw


def _error(exc: RegistrationError) -> Response:
    headers = {"WWW-Authenticate": f'Bearer error="{exc.error}"'} if exc.status == 401 else None
    return oauth_error(exc.status, exc.error, exc.message, headers)


async def register_endpoint(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    try:
        token = _bearer(request)
        raw = await _body(request)
        async with provider.sessionmaker() as session, session.begin():
            document = await register_client(
                session, token, raw, provider.issuer, provider.clock.now(), provider.client_keys.addresses
            )
    except RegistrationError as exc:
        return _error(exc)
    return oauth_json(201, document)


async def manage_endpoint(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    client_id = request.path_params["client_id"]
    try:
        token = _bearer(request)
        raw = await _body(request) if request.method == "PUT" else b""
        async with provider.sessionmaker() as session, session.begin():
            client = await load_registered(session, client_id, token)
            if request.method == "GET":
                return oauth_json(200, client_document(client, provider.issuer))
            if request.method == "PUT":
                document = await update_client(
                    session, client, raw, provider.clock.now(), provider.profiles, provider.client_keys.addresses
                )
            else:
                await delete_client(session, client, provider.clock.now())
                document = None
    except RegistrationError as exc:
        return _error(exc)
    provider.clients.forget(client_id)
    return (
        Response(status_code=204, headers={"Cache-Control": "no-store"})
        if document is None
        else oauth_json(200, document)
    )
