"""Verifying our own JWTs inside the provider (UserInfo, revocation, introspection, id_token_hint)."""

from __future__ import annotations

from typing import Any

import jwt
from jwt.types import Options

from idp.keys import KeyRing

ALGORITHMS = ["ES256", "RS256", "PS256", "EdDSA"]  # every algorithm the hub signs with (ID tokens included)


class TokenInvalid(Exception):
    pass


class UnknownKey(TokenInvalid):
    """The token names a key this instance has not loaded (perhaps another instance rotated keys)."""

    def __init__(self, kid: str) -> None:
        super().__init__("unknown key")
        self.kid = kid


def verify_hub_jwt(
    keys: KeyRing,
    token: str,
    issuer: str,
    *,
    typ: str | None,
    audience: str | None = None,
    verify_exp: bool = True,
    leeway: int = 5,
    now: int | None = None,
) -> dict[str, Any]:
    """Signature by a published hub key, allowlisted alg, no key-carrying headers, ``iss`` (and ``aud``).

    With ``now`` (the provider's clock) the times are checked against it instead of the system time.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenInvalid("malformed token") from exc
    if header.get("alg") not in ALGORITHMS or any(h in header for h in ("jku", "jwk", "x5u", "x5c")):
        raise TokenInvalid("algorithm or header not accepted")
    if typ is not None and str(header.get("typ", "")).lower() not in (typ, f"application/{typ}"):
        raise TokenInvalid("wrong token type")
    kid = str(header.get("kid", ""))
    key = keys.public_key(kid)
    if key is None:
        raise UnknownKey(kid)
    if keys.key_alg(kid) != header.get("alg"):
        raise TokenInvalid("algorithm does not match the key")
    own_times = now is None
    options: Options = {
        "verify_exp": verify_exp and own_times,
        "verify_nbf": own_times,
        "verify_iat": own_times,
        "verify_aud": audience is not None,
        "require": ["iss", "iat"],
    }
    try:
        claims = jwt.decode(
            token, key, algorithms=ALGORITHMS, issuer=issuer, audience=audience, options=options, leeway=leeway
        )
    except jwt.PyJWTError as exc:
        raise TokenInvalid(str(exc)) from exc
    if now is not None:
        check_times(claims, now, leeway, verify_exp)
    return claims


def check_times(claims: dict[str, Any], now: int, leeway: int, verify_exp: bool) -> None:
    """RFC 7519 §4.1.4–4.1.5 against the provider's clock."""
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if verify_exp and (not isinstance(exp, int) or exp <= now - leeway):
        raise TokenInvalid("token expired")
    if nbf is not None and (not isinstance(nbf, int) or nbf > now + leeway):
        raise TokenInvalid("token not yet valid")


async def verify_hub_jwt_reloading(keys: KeyRing, token: str, issuer: str, **options: Any) -> dict[str, Any]:
    """``verify_hub_jwt``; a token naming a key not loaded here makes the ring reload once (rate-limited), so a
    rotation done by another process (``gerbang keys rotate``, another instance) never fails a verification."""
    try:
        return verify_hub_jwt(keys, token, issuer, **options)
    except UnknownKey as exc:
        if not await keys.reload_for_unknown_kid(exc.kid):
            raise
    return verify_hub_jwt(keys, token, issuer, **options)


# Claims only other kinds of hub token carry: an access token (RFC 9068 §2.2), a logout token, an audit checkpoint.
NOT_IN_ID_TOKENS = ("client_id", "scope", "events", "seq", "hash")


def check_id_token_shape(claims: dict[str, Any], issuer: str) -> None:
    """OIDC Core §2: ``sub`` and an ``aud`` naming clients (never the hub itself, as a UserInfo access token does),
    ``auth_time``, and none of the claims that mark another kind of hub token (RFC 8725 §3.11, §2.8)."""
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if not isinstance(claims.get("sub"), str) or not audiences or not all(isinstance(a, str) for a in audiences):
        raise TokenInvalid("not an ID token")
    if issuer in audiences or "auth_time" not in claims or any(name in claims for name in NOT_IN_ID_TOKENS):
        raise TokenInvalid("not an ID token")


async def verify_id_token(
    keys: KeyRing, token: str, issuer: str, *, now: int, verify_exp: bool = False, audience: str | None = None
) -> dict[str, Any]:
    """A hub ID token (``id_token_hint``, the gateway's and console's sign-in): ``typ`` JWT and the ID token's shape,
    so an access token, a logout token or a gateway assertion signed by the same key is never taken for one."""
    claims = await verify_hub_jwt_reloading(
        keys, token, issuer, typ="jwt", verify_exp=verify_exp, now=now, audience=audience
    )
    check_id_token_shape(claims, issuer)
    return claims
