"""Verifying the hub's JWT access tokens (RFC 9068) the way any relying party would.

Checks, in order: the header (``typ`` at+jwt, ``alg`` ES256/RS256 only, no ``jku``/``jwk``/``x5u``/``x5c``/``crit``,
a ``kid``), the signature with the hub key of that ``kid`` (``gateway.jwks``), then the claims: ``iss``,
``exp``/``nbf``/``iat`` with a small leeway, the RFC 9068 §2.2 required claims, and per request that ``aud``
holds the route's resource and the ``jti`` is not revoked.

A verified token is remembered (bounded LRU keyed by the token string, each entry dropped at the token's
``exp``): a repeat token costs a dict hit instead of ~52–73 µs of pyjwt. Audience, expiry, revocation and that
its signing key is still trusted (``gerbang keys revoke``) are checked on every hit, so the cache only saves the
signature and parsing work.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt

from gateway.assertion import read_jose_header
from gateway.jwks import ALLOWED_ALGS, KeySource
from idp.clock import Clock
from idp.oauth.client_profile import PROFILE_CLAIM

ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")  # RFC 9068 §2.1
FORBIDDEN_HEADERS = ("jku", "jwk", "x5u", "x5c", "crit")  # key material or extensions chosen by the sender
REQUIRED_CLAIMS = ("iss", "exp", "aud", "sub", "client_id", "iat", "jti")  # RFC 9068 §2.2

RevocationCheck = Callable[[str], Awaitable[bool]]


class InvalidToken(Exception):
    """The token cannot be accepted; the message is safe to send as ``error_description``."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What the gateway uses from a verified access token."""

    sub: str
    client_id: str
    audiences: frozenset[str]
    scopes: frozenset[str]
    jti: str
    exp: int
    acr: str | None = None
    amr: tuple[str, ...] = ()
    auth_time: int | None = None
    kid: str = ""  # the hub key that signed it: a remembered token stops verifying when that key is revoked
    jkt: str | None = None  # RFC 9449 §6.1 cnf.jkt: the token is DPoP-bound to this key
    profile: str | None = None  # the security profile its client followed when it was issued (fapi2)


class TokenVerifier:
    def __init__(
        self,
        keys: KeySource,
        issuer: str,
        clock: Clock,
        *,
        leeway: int = 30,
        cache_size: int = 10_000,
        is_revoked: RevocationCheck | None = None,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._clock = clock
        self._leeway = leeway
        self._cache_size = cache_size
        self._cache: OrderedDict[str, AccessClaims] = OrderedDict()
        self._is_revoked = is_revoked

    @property
    def cached(self) -> int:
        return len(self._cache)

    async def verify(self, token: str, audience: str) -> AccessClaims:
        claims = self._cache.get(token)
        now = self._clock.now()
        if claims is not None and now < claims.exp and self._keys.trusts(claims.kid):
            self._cache.move_to_end(token)
        else:
            if claims is not None:
                del self._cache[token]
            claims = await self._verify_signed(token, now)
            if now < claims.exp:
                self._remember(token, claims)
        if audience not in claims.audiences:
            raise InvalidToken("the token is not meant for this app (aud)")
        if self._is_revoked is not None and await self._is_revoked(claims.jti):
            raise InvalidToken("the token has been revoked")
        return claims

    def _remember(self, token: str, claims: AccessClaims) -> None:
        self._cache[token] = claims
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def _verify_signed(self, token: str, now: int) -> AccessClaims:
        alg, kid = check_header(read_header(token), ACCESS_TOKEN_TYPES)
        key = await self._keys.key(kid, alg)
        if key is None:
            raise InvalidToken("the token was not signed by a key of this hub")
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[alg],
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("the token signature is invalid") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("the token is malformed") from exc
        check_times(payload, now, self._leeway)
        if payload.get("iss") != self._issuer:
            raise InvalidToken("the token was issued by another issuer (iss)")
        return build_claims(payload, kid)


def read_header(token: str) -> dict[str, Any]:
    """The JOSE header, read without pyjwt's heavier parsing (it is checked before any key is looked up)."""
    if token.count(".") != 2:
        raise InvalidToken("the token is not a signed JWT")
    try:
        return read_jose_header(token)  # the one header reader (gateway.assertion, which OPD apps vendor)
    except ValueError as exc:
        raise InvalidToken("the token header is malformed") from exc


def check_header(header: dict[str, Any], types: tuple[str, ...]) -> tuple[str, str]:
    """RFC 8725 §3.1, §3.11: an allowlisted algorithm, an explicit type, and no sender-chosen keys."""
    alg = header.get("alg")
    if alg not in ALLOWED_ALGS:
        raise InvalidToken("the token algorithm is not accepted")
    if str(header.get("typ", "")).lower() not in types:
        raise InvalidToken("the token has the wrong type (typ)")
    if any(name in header for name in FORBIDDEN_HEADERS):
        raise InvalidToken("the token header names its own key or extensions")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("the token header has no key id (kid)")
    return alg, kid


def check_times(payload: dict[str, Any], now: int, leeway: int) -> None:
    for name in ("exp", "iat"):
        if not isinstance(payload.get(name), int) or isinstance(payload.get(name), bool):
            raise InvalidToken(f"the token has no valid {name} claim")
    if payload["exp"] + leeway <= now:
        raise InvalidToken("the token has expired")
    if payload["iat"] - leeway > now:
        raise InvalidToken("the token was issued in the future (iat)")
    nbf = payload.get("nbf")
    if nbf is not None and (not isinstance(nbf, int) or nbf - leeway > now):
        raise InvalidToken("the token is not valid yet (nbf)")


def build_claims(payload: dict[str, Any], kid: str = "") -> AccessClaims:
    missing = [name for name in REQUIRED_CLAIMS if name not in payload]
    if missing:
        raise InvalidToken(f"the token lacks required claims: {', '.join(missing)}")
    aud = payload["aud"]
    audiences = frozenset([aud] if isinstance(aud, str) else aud if isinstance(aud, list) else ())
    scope, amr, auth_time = payload.get("scope", ""), payload.get("amr", []), payload.get("auth_time")
    if not all(isinstance(a, str) for a in audiences) or not isinstance(scope, str) or not isinstance(amr, list):
        raise InvalidToken("the token claims are malformed")
    for name in ("sub", "client_id", "jti"):
        if not isinstance(payload[name], str) or not payload[name]:
            raise InvalidToken(f"the token claim {name} is malformed")
    acr = payload.get("acr")
    cnf = payload.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if cnf is not None and not isinstance(jkt, str):
        raise InvalidToken("the token's confirmation (cnf) is not understood")
    return AccessClaims(
        sub=payload["sub"],
        client_id=payload["client_id"],
        audiences=audiences,
        scopes=frozenset(scope.split()),
        jti=payload["jti"],
        exp=payload["exp"],
        acr=acr if isinstance(acr, str) else None,
        amr=tuple(str(m) for m in amr),
        auth_time=auth_time if isinstance(auth_time, int) else None,
        kid=kid,
        jkt=jkt,
        profile=profile if isinstance(profile := payload.get(PROFILE_CLAIM), str) else None,
    )
