"""Where the gateway finds the hub's public keys: a JWKS URL (a relying party) or the key ring in-process.

Either way an unknown ``kid`` triggers at most one refresh per ``min_refresh_seconds``: a caller spraying random
``kid`` values cannot make the gateway refetch (or reload) without bound; between refreshes an unknown
``kid`` is simply unknown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp
import jwt

log = logging.getLogger("gerbang.jwks")

# RFC 7518 §3.1: the only algorithms the hub signs with; a key is used only with the algorithm of its family.
ALLOWED_ALGS = {"ES256": "EC", "RS256": "RSA"}


class KeySource(Protocol):
    async def key(self, kid: str, alg: str) -> Any | None:
        """The public key for ``kid`` usable with ``alg``, or None when there is none (after one refresh at most)."""

    def trusts(self, kid: str) -> bool:
        """Whether ``kid`` is among the keys held now (no refresh): a remembered token whose key has since been
        revoked must be verified again, and then fails."""


def build_keys(jwks: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """kid → (alg, public key) for every usable signing key of a JWK Set; anything else is ignored."""
    keys: dict[str, tuple[str, Any]] = {}
    for jwk in jwks.get("keys", []):
        if not isinstance(jwk, dict):
            continue
        kid, alg, kty = jwk.get("kid"), jwk.get("alg"), jwk.get("kty")
        if not isinstance(kid, str) or alg not in ALLOWED_ALGS or ALLOWED_ALGS[alg] != kty:
            continue
        if jwk.get("use", "sig") != "sig" or "d" in jwk or "gerbang_use" in jwk:  # message keys sign no JWS
            continue
        try:
            keys[kid] = (alg, jwt.PyJWK(jwk, algorithm=alg).key)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            log.warning("skipping an unusable key in the JWK Set", extra={"kid": kid})
    return keys


class RefreshGate:
    """Allows one refresh per interval (monotonic time), so refreshes driven by request data stay bounded."""

    def __init__(self, min_interval: float) -> None:
        self._min_interval = min_interval
        self._last = -float("inf")
        self.refreshes = 0

    def allow(self) -> bool:
        now = time.monotonic()
        if now - self._last < self._min_interval:
            return False
        self._last = now
        self.refreshes += 1
        return True


class RemoteJwks:
    """A JWKS fetched over HTTP (aiohttp), cached, refreshed on an unknown kid and after ``max_age`` seconds."""

    def __init__(
        self, url: str, *, min_refresh_seconds: float = 10.0, max_age_seconds: float = 300.0, timeout: float = 3.0
    ) -> None:
        self.url = url
        self._keys: dict[str, tuple[str, Any]] = {}
        self._fetched_at = -float("inf")
        self._max_age = max_age_seconds
        self._gate = RefreshGate(min_refresh_seconds)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._lock = asyncio.Lock()

    @property
    def fetches(self) -> int:
        return self._gate.refreshes

    async def key(self, kid: str, alg: str) -> Any | None:
        found = self._keys.get(kid)
        stale = time.monotonic() - self._fetched_at > self._max_age
        if found is None or stale:
            await self._refresh()
            found = self._keys.get(kid)
        if found is None or found[0] != alg:
            return None
        return found[1]

    def trusts(self, kid: str) -> bool:
        return kid in self._keys

    async def _refresh(self) -> None:
        async with self._lock:  # one fetch in flight; waiters then see its result
            if not self._gate.allow():
                return
            try:
                self._keys = build_keys(await self._fetch())
                self._fetched_at = time.monotonic()
            except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                # Keep the keys we have: a hub hiccup must not turn every token invalid.
                log.warning("JWKS fetch from %s failed: %s", self.url, exc)

    async def _fetch(self) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession(timeout=self._timeout) as session,
            session.get(self.url, allow_redirects=False) as response,
        ):
            if response.status != 200:
                raise ValueError(f"status {response.status}")
            body = await response.json(content_type=None)
        if not isinstance(body, dict):
            raise ValueError("not a JWK Set")
        return body


KeyLookup = Callable[[str], tuple[str, Any] | None]  # kid → (alg, public key)


class LocalKeys:
    """The key ring of this process, reloaded from storage on an unknown kid.

    A key rotated by another instance reaches this one through ``reload`` (e.g. ``KeyRing.load``), gated
    like a remote fetch.
    """

    def __init__(
        self,
        lookup: KeyLookup,
        reload: Callable[[], Awaitable[None]] | None = None,
        *,
        min_refresh_seconds: float = 10.0,
    ) -> None:
        self._lookup = lookup
        self._reload = reload
        self._gate = RefreshGate(min_refresh_seconds)
        self._lock = asyncio.Lock()

    @property
    def fetches(self) -> int:
        return self._gate.refreshes

    async def key(self, kid: str, alg: str) -> Any | None:
        found = self._lookup(kid)
        if found is None and self._reload is not None:
            async with self._lock:
                if self._lookup(kid) is None and self._gate.allow():
                    try:
                        await self._reload()
                    except Exception:  # storage down: the kid stays unknown, the keys we have keep working
                        log.exception("reloading the key ring failed")
            found = self._lookup(kid)
        if found is None or found[0] != alg:
            return None
        return found[1]

    def trusts(self, kid: str) -> bool:
        return self._lookup(kid) is not None


def local_keys_from_ring(ring: Any, *, min_refresh_seconds: float = 10.0) -> LocalKeys:
    """``LocalKeys`` over an ``idp.keys.KeyRing`` (typed loosely: the gateway does not need the provider).

    Public keys are parsed once per published key set: ``KeyRing.load`` swaps in a new ``jwks()`` object, which
    rebuilds the map (so a key removed from the ring stops verifying here too).
    """
    parsed: dict[str, Any] = {"source": None, "keys": {}}

    def lookup(kid: str) -> tuple[str, Any] | None:
        jwks = ring.jwks()
        if jwks is not parsed["source"]:
            parsed["keys"], parsed["source"] = build_keys(jwks), jwks
        return parsed["keys"].get(kid)

    async def reload() -> None:
        await ring.load(create_if_missing=False)

    return LocalKeys(lookup, reload, min_refresh_seconds=min_refresh_seconds)
