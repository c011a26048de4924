"""Building and signing ``X-Gerbang-Assertion``: who the hub says is calling, for one app, for a few seconds.

Claims: ``iss`` (the hub), ``aud`` (the app's resource identifier), ``sub`` (absent for anonymous callers),
``client_id``, ``iat``, ``exp`` (≤ 60 s later; 30 s by default), ``jti``, and the identity claims the app is set
to receive (``route.claims``, ``gateway.claims``: by default ``name``, ``opd``, ``roles``, ``acr``; ``nik``/``nip``
only where policy releases them, ``release``).
Signed by ``idp.keys.KeyRing.sign`` (the one module that signs) with ``typ: gerbang-assertion+jwt``, so it can
never be mistaken for an access or ID token (RFC 8725 §3.11). ``issue`` answers a ``SignedAssertion``: the token,
which also names the identity claims it carries (``claim_names``, names only), so the access history records them
without a second lookup.

Signing costs ~27 µs (ES256) plus pyjwt's encoding, more than the whole app-plane hop; a cached one costs a
dict lookup. An assertion is identity, not a per-request signature (Pomerium does the same): it is reused
for the same caller — the ``Principal``, which carries its session or token id — and app for
``reuse_seconds`` (default 20 of a 30 s ttl) and re-signed after that, so every assertion an app receives
still has at least ``ttl - reuse_seconds`` seconds to live. Its ``jti`` therefore names the assertion, not
the request (the request has ``X-Request-Id``); ``reuse_seconds = 0`` signs one per request.

A cached assertion is dropped when the key that signed it no longer signs (rotation, revocation:
``current_kid``) and when its session ends (``forget_session``, a provider logout listener). A revoked token or an ended session is refused by authentication before the cache is read.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from gateway.model import Principal, RequestHead, Route
from idp.clock import Clock

ASSERTION_TYP = "gerbang-assertion+jwt"
MAX_TTL = 60

Signer = Callable[..., str]  # KeyRing.sign(claims, typ=...)
Release = Callable[[Route], tuple[str, ...]]  # the claims policy lets this route's assertion carry


class SignedAssertion(str):
    """A signed assertion (the JWT, as a ``str``) that also names the identity claims it carries, in release order.

    Built once per signing and cached with the token, so reading ``claim_names`` per request costs nothing."""

    claim_names: tuple[str, ...]

    def __new__(cls, token: str, claim_names: tuple[str, ...]) -> SignedAssertion:
        signed = super().__new__(cls, token)
        signed.claim_names = claim_names
        return signed


class HubAssertionIssuer:
    """``gateway.steps.AssertionIssuer``."""

    def __init__(
        self,
        sign: Signer,
        issuer: str,
        clock: Clock,
        *,
        ttl: int = 30,
        reuse_seconds: int = 20,
        cache_size: int = 10_000,
        current_kid: Callable[[], str] | None = None,
        release: Release | None = None,
        policy_set: Callable[[], object] | None = None,
    ) -> None:
        if not 0 < ttl <= MAX_TTL:
            raise ValueError(f"assertion ttl must be 1..{MAX_TTL} seconds")
        if not 0 <= reuse_seconds < ttl:
            raise ValueError("assertion reuse must be shorter than its ttl")
        self._sign = sign
        self._issuer = issuer
        self._clock = clock
        self._ttl = ttl
        self._reuse = reuse_seconds
        self._cache_size = cache_size
        self._current_kid = current_kid or (lambda: "")
        self._release = release or (lambda route: route.claims)
        # What ``release`` reads (the policy set in force): a reload may withdraw a claim, so it ends reuse.
        self._policy_set = policy_set or (lambda: None)
        self._cache: OrderedDict[tuple[Principal, str, tuple[str, ...]], tuple[int, SignedAssertion, str, object]] = (
            OrderedDict()
        )

    def issue(self, principal: Principal, route: Route, request: RequestHead) -> SignedAssertion:
        now = self._clock.now()
        if self._reuse == 0:
            return self._sign_for(principal, route, now)
        key = (principal, route.resource, route.claims)  # a change of the app's claims is never served stale
        cached = self._cache.get(key)
        kid, policy_set = self._current_kid(), self._policy_set()
        if cached is not None and now - cached[0] < self._reuse and cached[2] == kid and cached[3] is policy_set:
            return cached[1]
        token = self._sign_for(principal, route, now)
        self._cache[key] = (now, token, kid, policy_set)
        self._cache.move_to_end(key)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return token

    def _sign_for(self, principal: Principal, route: Route, now: int) -> SignedAssertion:
        names = carried_claims(principal, self._release(route))
        token = self._sign(build_claims(principal, route, self._issuer, now, self._ttl, names), typ=ASSERTION_TYP)
        return SignedAssertion(token, names)

    def forget_session(self, session_id: str) -> None:
        """The session ended: none of its assertions is handed out again (a logout is rare; a scan is fine)."""
        for key in [key for key in self._cache if key[0].session_id == session_id]:
            del self._cache[key]


def carried_claims(principal: Principal, released: tuple[str, ...]) -> tuple[str, ...]:
    """The released claims this caller's assertion actually carries: one the person has no value for is left out
    (``roles`` always goes, as a list; ``amr`` only when known), and for a session app's person one she did not
    agree to (``Principal.agreed``) however policy changed since."""
    return tuple(
        name
        for name in released
        if (principal.agreed is None or name in principal.agreed)
        and (name == "roles" or (principal.amr if name == "amr" else getattr(principal, name) is not None))
    )


def build_claims(
    principal: Principal, route: Route, issuer: str, now: int, ttl: int, released: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """``released``: the identity claims to carry (default: ``route.claims``)."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": route.resource,
        "iat": now,
        "exp": now + ttl,
        "jti": secrets.token_urlsafe(12),
    }
    if principal.sub is not None:
        claims["sub"] = principal.sub
    if principal.client_id is not None:
        claims["client_id"] = principal.client_id
    for name in route.claims if released is None else released:
        if name == "roles":
            claims["roles"] = list(principal.roles)
        elif name == "amr":
            if principal.amr:
                claims["amr"] = list(principal.amr)
        elif (value := getattr(principal, name)) is not None:
            claims[name] = value
    return claims
