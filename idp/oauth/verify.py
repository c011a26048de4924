"""Verifying our own JWTs inside the provider (UserInfo, revocation, introspection, id_token_hint)."""

from __future__ import annotations

from typing import Any

import jwt

from idp.keys import KeyRing

ALGORITHMS = ["ES256", "RS256"]


class TokenInvalid(Exception):
    pass


def verify_hub_jwt(keys: KeyRing, token: str, issuer: str, *, typ: str | None, audience: str | None = None,
                   verify_exp: bool = True, leeway: int = 5) -> dict[str, Any]:
    """Signature by a published hub key, allowlisted alg, no key-carrying headers, ``iss`` (and ``aud``)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenInvalid("malformed token") from exc
    if header.get("alg") not in ALGORITHMS or any(h in header for h in ("jku", "jwk", "x5u", "x5c")):
        raise TokenInvalid("algorithm or header not accepted")
    if typ is not None and str(header.get("typ", "")).lower() not in (typ, f"application/{typ}"):
        raise TokenInvalid("wrong token type")
    key = keys.public_key(str(header.get("kid", "")))
    if key is None:
        raise TokenInvalid("unknown key")
    options = {"verify_exp": verify_exp, "verify_aud": audience is not None, "require": ["iss", "iat"]}
    try:
        return jwt.decode(token, key, algorithms=ALGORITHMS, issuer=issuer, audience=audience, options=options,
                          leeway=leeway)
    except jwt.PyJWTError as exc:
        raise TokenInvalid(str(exc)) from exc
