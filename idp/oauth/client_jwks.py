"""A client's public keys by reference (RFC 7591 §2 ``jwks_uri``), for private_key_jwt (RFC 7523) and request
objects (RFC 9101), fetched and cached per process.

The hub connects to an address a client chose, from inside Kominfo's network, so every fetch is bounded:

- the address: at registration the URI must be https (http only on loopback) and every address its host
  resolves to must pass ``idp.upstream_addresses``; at connect time the socket is refused for a refused
  address, whatever the name resolves to by then (DNS rebinding); no redirects are followed;
- the answer: one total timeout, at most ``MAX_BYTES``, a JSON object whose ``keys`` are public signing keys;
- the rate: a set is kept ``ttl`` seconds; a token naming a ``kid`` the set lacks (the client rotated) fetches
  again, at most once per ``refetch_interval`` per URI, and a failed fetch is not retried sooner either, so
  made-up kids cannot turn the hub into a load on anyone's server;
- the memory: at most ``MAX_ENTRIES`` URIs are cached (the oldest is forgotten first).

authlib's client authentication is synchronous, so the endpoints preload the keys (``preload_client_keys``)
before it runs, and its hooks read them with ``client_key_set``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from joserfc.jwk import KeySet
from joserfc.util import urlsafe_b64decode

from idp.clients import check_jwks_uri
from idp.errors import InvalidInput
from idp.oauth.state import Preloaded, current
from idp.storage.models import Client
from idp.upstream_addresses import UpstreamAddresses, UpstreamRefused, check_upstream_address

log = logging.getLogger("gerbang.client_jwks")

MAX_BYTES = 64 * 1024
MAX_KEYS = 20
MAX_ENTRIES = 1000
KEY_TYPES = ("EC", "RSA", "OKP")
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")
ASSERTION_FIELDS = ("client_assertion", "request")  # the JWTs whose kid may name a key the cache lacks


class ClientKeysUnavailable(Exception):
    """The client's key set could not be fetched or is unusable (detail for the log only)."""


@dataclass
class _Entry:
    jwks: dict[str, Any] | None = None
    fetched_at: float = float("-inf")  # last successful fetch
    tried_at: float = float("-inf")  # last attempt, successful or not
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class ClientKeySets:
    """Per-process cache of clients' key sets, keyed by ``jwks_uri``."""

    def __init__(
        self,
        addresses: UpstreamAddresses,
        *,
        timeout: float = 5.0,
        ttl: float = 300.0,
        refetch_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.addresses = addresses
        self.timeout, self.ttl, self.refetch_interval = timeout, ttl, refetch_interval
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self.fetches = 0  # attempts made (the rate limit's test reads it)

    async def check_registration(self, uri: str) -> str:
        """The URI's form, and the addresses its host resolves to now (``idp.upstream_addresses``)."""
        check_jwks_uri(uri)
        try:
            await check_upstream_address(uri, self.addresses)
        except UpstreamRefused as exc:
            raise InvalidInput(f"jwks_uri: {exc}") from exc
        return uri

    async def key_set(self, uri: str, kids: Iterable[str] = ()) -> dict[str, Any]:
        """The set at ``uri``, holding every kid in ``kids`` if the client publishes it; raises
        ``ClientKeysUnavailable`` when there is no usable set."""
        entry = self._entry(uri)
        async with entry.lock:
            now = self._clock()
            fresh = entry.jwks is not None and now - entry.fetched_at < self.ttl
            if not (fresh and _holds(entry.jwks, kids)) and now - entry.tried_at >= self.refetch_interval:
                entry.tried_at = now
                self.fetches += 1
                try:
                    entry.jwks, entry.fetched_at = await self._fetch(uri), self._clock()
                except ClientKeysUnavailable as exc:
                    log.warning("client jwks_uri %s: %s", uri, exc)
            if entry.jwks is None or self._clock() - entry.fetched_at >= self.ttl:
                raise ClientKeysUnavailable(f"{uri}: no usable key set")
            return entry.jwks

    def _entry(self, uri: str) -> _Entry:
        entry = self._entries.get(uri)
        if entry is None:
            if len(self._entries) >= MAX_ENTRIES:
                del self._entries[next(iter(self._entries))]
            entry = self._entries[uri] = _Entry()
        return entry

    async def _fetch(self, uri: str) -> dict[str, Any]:
        connector = aiohttp.TCPConnector(socket_factory=self.addresses.socket_factory, force_close=True)
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout), connector=connector) as http,
                http.get(uri, allow_redirects=False, headers={"Accept": "application/json"}) as response,
            ):
                status, body = response.status, bytearray()
                async for chunk in response.content.iter_chunked(16 * 1024):  # read(n) may stop short of n
                    body += chunk
                    if len(body) > MAX_BYTES:
                        break
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            refused = isinstance(getattr(exc, "os_error", None), UpstreamRefused) or isinstance(exc, UpstreamRefused)
            raise ClientKeysUnavailable("address refused" if refused else type(exc).__name__) from exc
        if status != 200:
            raise ClientKeysUnavailable(f"HTTP {status}")
        if len(body) > MAX_BYTES:
            raise ClientKeysUnavailable(f"answer larger than {MAX_BYTES} bytes")
        try:
            return parse_key_set(json.loads(body))
        except ValueError as exc:
            raise ClientKeysUnavailable(str(exc) or "not JSON") from exc


def parse_key_set(doc: Any) -> dict[str, Any]:
    """Public signing keys only: a set carrying a private key is refused whole (the client leaked it)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list) or len(doc["keys"]) > MAX_KEYS:
        raise ValueError("not a JWK set (an object with at most 20 keys)")
    keys = [key for key in doc["keys"] if isinstance(key, dict)]
    if any(member in key for key in keys for member in PRIVATE_MEMBERS):
        raise ValueError("the set publishes private key material")
    usable = [key for key in keys if key.get("kty") in KEY_TYPES and key.get("use", "sig") == "sig"]
    try:
        KeySet.import_key_set({"keys": usable})
    except Exception as exc:  # joserfc raises several error types for malformed keys
        raise ValueError(f"malformed key: {type(exc).__name__}") from exc
    return {"keys": usable}


def _holds(jwks: dict[str, Any] | None, kids: Iterable[str]) -> bool:
    held = {key.get("kid") for key in (jwks or {}).get("keys", [])}
    return all(kid in held for kid in kids)


def jwt_kid(value: str) -> str | None:
    """The ``kid`` in a compact JWS's protected header, unverified (only to choose which keys to fetch)."""
    head = value.split(".", 1)[0]
    if not head or len(head) > 2048:
        return None
    try:
        header = json.loads(urlsafe_b64decode(head.encode("ascii")))
    except (ValueError, UnicodeError):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) and len(kid) <= 200 else None


async def load_client_keys(key_sets: ClientKeySets, client: Client, jwts: Iterable[str]) -> dict[str, Any] | None:
    """The client's registered keys: inline ``jwks``, else those at its ``jwks_uri`` (None when unusable)."""
    if client.jwks or not client.jwks_uri:
        return client.jwks
    kids = {kid for kid in map(jwt_kid, jwts) if kid is not None}
    try:
        return await key_sets.key_set(client.jwks_uri, kids)
    except ClientKeysUnavailable:
        return None


async def preload_client_keys(key_sets: ClientKeySets, state: Preloaded, form: dict[str, list[str]]) -> None:
    """Before authlib runs: the key sets of the preloaded clients that register theirs by reference."""
    jwts = [value for name in ASSERTION_FIELDS for value in form.get(name, [])[:1]]
    loaded: dict[str, dict[str, Any] | None] = {}
    for client_id, client in state.clients.items():
        if client.jwks_uri and not client.jwks:
            loaded[client_id] = await load_client_keys(key_sets, client, jwts)
    state.client_jwks = loaded


def client_key_set(client: Client, state: Preloaded | None = None) -> dict[str, Any]:
    """The keys ``preload_client_keys`` found (an empty set when none); inside authlib's hooks ``state`` is the
    current one."""
    if client.jwks:
        return client.jwks
    return (state or current()).client_jwks.get(client.client_id) or {"keys": []}
