"""An upstream's OpenID Provider Metadata (Discovery 1.0 §4) and JWKS, fetched and cached per process.

The metadata lives ``federation_metadata_ttl`` seconds; the JWKS is fetched again when a token names a
``kid`` it does not hold (the upstream rotated), at most once per ``UNKNOWN_KID_INTERVAL`` so made-up kids
cannot turn into a load on the upstream. Answers are size-limited and must be JSON objects of the
right shape: an upstream that is down, slow or sends garbage raises ``UpstreamUnavailable``.

The hub connects to the upstream from inside Kominfo's network, so every address is held to
``idp.upstream_addresses`` (loopback, link-local, metadata services, ranges Kominfo denies): the issuer at
registration (``idp.federation.registry``), every endpoint the discovery document names when it is read (a
document pointing the token endpoint at 169.254.169.254 is refused whole), and every socket at connect time,
whatever a name resolves to by then (DNS rebinding). No redirects are followed.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from joserfc.jwk import KeySet

from idp.upstream_addresses import UpstreamAddresses, UpstreamRefused, check_upstream_address

MAX_BYTES = 512 * 1024
UNKNOWN_KID_INTERVAL = 5.0
REQUIRED = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint", "end_session_endpoint")


class UpstreamUnavailable(Exception):
    """The upstream could not be reached or answered something unusable (detail for the log only)."""


@dataclass(frozen=True)
class UpstreamMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    id_token_algs: tuple[str, ...]
    iss_parameter_supported: bool
    auth_methods: tuple[str, ...]


@dataclass
class _Entry:
    metadata: UpstreamMetadata
    fetched_at: float
    jwks: KeySet | None = None
    jwks_fetched_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


async def fetch_json(
    method: str, url: str, timeout: float, addresses: UpstreamAddresses, **kwargs: Any
) -> tuple[int, Any]:
    """One call to an upstream: status and parsed JSON body; anything else is ``UpstreamUnavailable``.

    The socket is refused for an address ``addresses`` does not allow (checked after name resolution)."""
    connector = aiohttp.TCPConnector(socket_factory=addresses.socket_factory, force_close=True)
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout), connector=connector) as http,
            http.request(method, url, allow_redirects=False, **kwargs) as response,
        ):
            status, body = response.status, bytearray()
            async for chunk in response.content.iter_chunked(16 * 1024):  # read(n) may stop short of n
                body += chunk
                if len(body) > MAX_BYTES:
                    break
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
        refusal = exc if isinstance(exc, UpstreamRefused) else getattr(exc, "os_error", None)
        if isinstance(refusal, UpstreamRefused):
            raise UpstreamUnavailable(f"{url}: address refused ({refusal})") from exc
        raise UpstreamUnavailable(f"{url}: {type(exc).__name__} {exc}") from exc
    if len(body) > MAX_BYTES:
        raise UpstreamUnavailable(f"{url}: answer larger than {MAX_BYTES} bytes")
    try:
        return status, json.loads(body)
    except ValueError as exc:
        raise UpstreamUnavailable(f"{url}: HTTP {status}, not JSON") from exc


def parse_metadata(issuer: str, doc: Any) -> UpstreamMetadata:
    if not isinstance(doc, dict) or any(not isinstance(doc.get(name), str) for name in REQUIRED):
        raise UpstreamUnavailable(f"{issuer}: discovery document lacks {', '.join(REQUIRED)}")
    if doc["issuer"] != issuer:  # Discovery §4.3: the document must name the issuer it was fetched for
        raise UpstreamUnavailable(f"{issuer}: discovery names issuer {doc['issuer']!r}")
    end_session = doc.get("end_session_endpoint")
    userinfo = doc.get("userinfo_endpoint")
    algs = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
    methods = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    return UpstreamMetadata(
        issuer=issuer,
        authorization_endpoint=doc["authorization_endpoint"],
        token_endpoint=doc["token_endpoint"],
        jwks_uri=doc["jwks_uri"],
        userinfo_endpoint=userinfo if isinstance(userinfo, str) else None,
        end_session_endpoint=end_session if isinstance(end_session, str) else None,
        id_token_algs=tuple(a for a in algs if isinstance(a, str)),
        iss_parameter_supported=doc.get("authorization_response_iss_parameter_supported") is True,
        auth_methods=tuple(m for m in methods if isinstance(m, str)),
    )


class UpstreamDirectory:
    """Per-process cache of every upstream's metadata and keys, keyed by issuer."""

    def __init__(self, timeout: float, metadata_ttl: float, addresses: UpstreamAddresses) -> None:
        self.timeout = timeout
        self.addresses = addresses
        self._ttl = metadata_ttl
        self._entries: dict[str, _Entry] = {}

    async def fetch_json(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
        """One call to one of the upstream's endpoints, under this directory's timeout and address rules."""
        return await fetch_json(method, url, self.timeout, self.addresses, **kwargs)

    async def metadata(self, issuer: str) -> UpstreamMetadata:
        return (await self._entry(issuer)).metadata

    async def _entry(self, issuer: str) -> _Entry:
        entry = self._entries.get(issuer)
        if entry is None or time.monotonic() - entry.fetched_at > self._ttl:
            status, doc = await self.fetch_json("GET", f"{issuer}/.well-known/openid-configuration")
            if status != 200:
                raise UpstreamUnavailable(f"{issuer}: discovery answered HTTP {status}")
            metadata = parse_metadata(issuer, doc)
            await check_endpoint_addresses(metadata, self.addresses)
            if entry is not None and entry.metadata == metadata:
                entry.fetched_at = time.monotonic()
            else:
                entry = self._entries[issuer] = _Entry(metadata, time.monotonic())
        return entry

    async def key_set(self, issuer: str, kid: str | None) -> KeySet:
        """The upstream's keys, holding ``kid`` if the upstream publishes it (fetched again if not held)."""
        entry = await self._entry(issuer)
        async with entry.lock:
            if entry.jwks is None or (
                not _holds(entry.jwks, kid) and time.monotonic() - entry.jwks_fetched_at >= UNKNOWN_KID_INTERVAL
            ):
                entry.jwks = await self._fetch_jwks(entry.metadata.jwks_uri)
                entry.jwks_fetched_at = time.monotonic()
            return entry.jwks

    async def _fetch_jwks(self, uri: str) -> KeySet:
        status, doc = await self.fetch_json("GET", uri)
        if status != 200 or not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise UpstreamUnavailable(f"{uri}: not a JWK set (HTTP {status})")
        usable = [
            k
            for k in doc["keys"]
            if isinstance(k, dict) and k.get("use", "sig") == "sig" and k.get("kty") in ("EC", "RSA", "OKP")
        ]
        try:
            return KeySet.import_key_set({"keys": usable})
        except Exception as exc:  # joserfc raises several error types for malformed keys
            raise UpstreamUnavailable(f"{uri}: malformed key: {exc}") from exc


async def check_endpoint_addresses(metadata: UpstreamMetadata, addresses: UpstreamAddresses) -> None:
    """Every endpoint the document names: an http(s) URL whose host (and what a name resolves to now) is allowed."""
    for name in ENDPOINTS:
        url = getattr(metadata, name)
        if url is None:
            continue
        if not url.startswith(("https://", "http://")):
            raise UpstreamUnavailable(f"{metadata.issuer}: {name} is not an http(s) URL")
        try:
            await check_upstream_address(url, addresses)
        except UpstreamRefused as exc:
            raise UpstreamUnavailable(f"{metadata.issuer}: {name} {url}: {exc}") from exc


def _holds(key_set: KeySet, kid: str | None) -> bool:
    return kid is None or any(key.kid == kid for key in key_set.keys)
