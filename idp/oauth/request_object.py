"""RFC 9101 (JAR): a signed request object, by value (``request``) or inside a pushed request.

Verified against the client's registered ``jwks`` with an asymmetric algorithm only; ``iss`` is the client,
``aud`` this issuer, ``exp`` in the future, ``nbf`` not more than an hour old (FAPI 2.0 Message Signing §5.3.2),
its ``client_id`` the client's. Parameters sent beside the object are ignored (§6.3): the object's claims are the
request.
"""

from __future__ import annotations

import json
from typing import Any, cast

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization

REQUEST_OBJECT_ALGS = ["PS256", "ES256", "EdDSA", "RS256"]
FAPI_REQUEST_OBJECT_ALGS = ("PS256", "ES256", "EdDSA")
MAX_OBJECT_LIFETIME = 3600
JWT_CLAIMS = ("iss", "aud", "exp", "nbf", "iat", "jti")
FORBIDDEN_HEADERS = ("jku", "jwk", "x5u", "x5c")


class InvalidRequestObject(Exception):
    """``str(exc)`` is the public ``error_description`` (error code ``invalid_request_object``)."""


def check_request_object(
    value: str,
    *,
    client_id: str,
    jwks: dict[str, Any] | None,
    issuer: str,
    now: int,
    algorithms: tuple[str, ...] | list[str] = REQUEST_OBJECT_ALGS,
) -> list[tuple[str, str]]:
    """The authorization request carried by the object, as (name, value) pairs; raises ``InvalidRequestObject``."""
    if not jwks or not jwks.get("keys"):
        raise InvalidRequestObject("The client has no registered keys for request objects.")
    try:
        keys = KeySet.import_key_set(cast(KeySetSerialization, jwks))
        token = jwt.decode(value, keys, algorithms=list(algorithms))
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidRequestObject("The request object is not signed by the client's key.") from exc
    if any(name in token.header for name in FORBIDDEN_HEADERS):
        raise InvalidRequestObject("The request object header names its own key.")
    claims = token.claims
    _check_claims(claims, client_id, issuer, now)
    return _as_params(claims)


def _check_claims(claims: dict[str, Any], client_id: str, issuer: str, now: int) -> None:
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
    if claims.get("iss") != client_id or claims.get("client_id") != client_id:
        raise InvalidRequestObject("The request object was not made by this client (iss, client_id).")
    if issuer not in audiences:
        raise InvalidRequestObject("The request object is not for this issuer (aud).")
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, int) or exp <= now:
        raise InvalidRequestObject("The request object has expired (exp).")
    if nbf is not None and (not isinstance(nbf, int) or nbf > now + 5 or nbf < now - MAX_OBJECT_LIFETIME):
        raise InvalidRequestObject("The request object is not valid now (nbf).")
    if exp - (nbf if isinstance(nbf, int) else now) > MAX_OBJECT_LIFETIME:
        raise InvalidRequestObject("The request object lives too long (exp).")
    if "request" in claims or "request_uri" in claims:
        raise InvalidRequestObject("A request object cannot carry another request.")


def _as_params(claims: dict[str, Any]) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    for name, value in claims.items():
        if name in JWT_CLAIMS:
            continue
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            params.extend((name, item) for item in value)  # e.g. several RFC 8707 resources
        elif isinstance(value, str):
            params.append((name, value))
        elif isinstance(value, bool):
            params.append((name, "true" if value else "false"))
        elif isinstance(value, int):
            params.append((name, str(value)))
        else:
            params.append((name, json.dumps(value, separators=(",", ":"))))
    return params
