"""OIDC Core §5.3 UserInfo: GET or POST, the token in the header or (POST) the form body (RFC 6750 §2).

A DPoP-bound token (``cnf.jkt``, RFC 9449 §7) comes as ``Authorization: DPoP`` with a proof made by its key for
this request; presented as a bearer token it is refused.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from idp.dpop.proof import InvalidProof, NonceRequired
from idp.endpoints.dpop_http import read_proof, resource_refusal
from idp.http import FormError, oauth_json, read_form
from idp.oauth.standing import check_access_token_stands
from idp.oauth.tokens import user_claims
from idp.oauth.verify import TokenInvalid, verify_hub_jwt_reloading
from idp.provider import Provider


def _challenge(error: str | None, description: str = "", status: int = 401) -> Response:
    value = 'Bearer realm="gerbang"'
    if error:
        value += f', error="{error}", error_description="{description}"'
    body = {"error": error, "error_description": description} if error else {"error": "invalid_request"}
    return oauth_json(status, body, {"WWW-Authenticate": value})


async def userinfo_endpoint(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    header = request.headers.get("authorization")
    token, scheme = None, "bearer"
    if header:
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme not in ("bearer", "dpop") or not value.strip():
            return _challenge("invalid_request", "Malformed Authorization header.", 400)
        token = value.strip()
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        try:
            form = dict(await read_form(request))
        except FormError:
            return _challenge("invalid_request", "Malformed request body.", 400)
        if "access_token" in form:
            if token is not None:  # RFC 6750 §2: one method only
                return _challenge("invalid_request", "The token was sent more than once.", 400)
            token = form["access_token"]
    if not token:
        return _challenge(None)
    try:
        claims = await verify_hub_jwt_reloading(
            provider.keys, token, provider.issuer, typ="at+jwt", audience=provider.issuer, now=provider.clock.now()
        )
    except TokenInvalid:
        return _challenge("invalid_token", "The access token is not valid.")
    refused = await _check_sender(provider, request, token, scheme, claims)
    if refused is not None:
        return refused
    scopes = str(claims.get("scope", "")).split()
    if "openid" not in scopes:
        return _challenge("insufficient_scope", "The token lacks the openid scope.", 403)
    try:
        async with provider.sessionmaker() as session:
            user = await check_access_token_stands(session, provider.clients, claims)
            released = user_claims(user, " ".join(scopes)) if user is not None else None
    except TokenInvalid:
        return _challenge("invalid_token", "The access token is no longer valid.")
    except SQLAlchemyError:
        return oauth_json(503, {"error": "temporarily_unavailable"}, {"Retry-After": "5"})
    if released is None:  # a client's own token speaks for no person
        return _challenge("invalid_token", "The access token is not for a person.")
    return oauth_json(200, released)


async def _check_sender(provider: Provider, request: Request, token: str, scheme: str, claims: dict) -> Response | None:
    """RFC 9449 §7: a bound token needs the DPoP scheme and a proof by its key; a bearer token no proof."""
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if jkt is None:
        if scheme == "dpop":
            return resource_refusal(provider, "invalid_token", "The access token is not DPoP-bound.")
        return None
    if scheme != "dpop":
        return resource_refusal(provider, "invalid_token", "The access token is DPoP-bound: use the DPoP scheme.")
    try:
        proof = await read_proof(provider, request, provider.userinfo_url, access_token=token)
    except NonceRequired as exc:
        return resource_refusal(provider, "use_dpop_nonce", str(exc))
    except InvalidProof as exc:
        return resource_refusal(provider, "invalid_dpop_proof", str(exc))
    if proof is None:
        return resource_refusal(provider, "invalid_token", "A DPoP proof is required.")
    if proof.jkt != jkt:
        return resource_refusal(provider, "invalid_dpop_proof", "The proof was made with another key (cnf.jkt).")
    return None
