"""``gerbang apps audit``: is any registered upstream reachable around the hub?

Every upstream of every approved app is called directly (connections to addresses the settings refuse are
never opened: ``idp.upstream_addresses``) (GET on its base URL, redirects not followed) four ways:

- ``no-assertion``: no ``X-Gerbang-Assertion`` at all;
- ``forged``: an assertion for the app, signed by a throwaway key that claims the hub's ``kid``;
- ``expired``: an assertion signed by the hub's real key that expired a minute ago;
- ``wrong-audience``: a fresh assertion signed by the hub's real key, but for another app.

Any answer other than 401 or 403 marks the app "reachable around the hub". An upstream that cannot be
reached at all from here is reported as unreachable, not flagged (the probe cannot tell).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.apps import AppRecord
from gateway.assertion_issuer import ASSERTION_TYP
from idp.upstream_addresses import UpstreamAddresses, UpstreamRefused

REFUSALS = (401, 403)
PROBE_SUB = "gerbang-audit-probe"
# Not an http(s) URI, so never any app's resource identifier (``idp.clients.check_resource``): the genuine
# wrong-audience assertion handed to upstreams cannot be replayed anywhere.
NO_APP_AUDIENCE = "urn:gerbang:audit-probe:no-such-app"
Signer = Callable[..., str]


@dataclass(frozen=True)
class ProbeResult:
    upstream: str
    probe: str
    status: int | None  # None when the upstream could not be reached
    error: str | None = None

    @property
    def reachable(self) -> bool:
        return self.status is not None and self.status not in REFUSALS

    def as_json(self) -> dict[str, Any]:
        return {
            "upstream": self.upstream,
            "probe": self.probe,
            "status": self.status,
            "error": self.error,
            "reachable_around_hub": self.reachable,
        }


@dataclass(frozen=True)
class AppAudit:
    slug: str
    results: tuple[ProbeResult, ...]

    @property
    def reachable(self) -> bool:
        return any(result.reachable for result in self.results)

    def as_json(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "reachable_around_hub": self.reachable,
            "probes": [result.as_json() for result in self.results],
        }


class ProbeAssertions:
    """The assertions each probe sends: forged ones always, genuine-but-wrong ones when the hub's key is at hand."""

    def __init__(self, issuer: str, now: int, hub_sign: Signer | None = None, hub_kid: str | None = None) -> None:
        self._issuer = issuer
        self._now = now
        self._hub_sign = hub_sign
        self._throwaway = ec.generate_private_key(ec.SECP256R1())
        self._kid = hub_kid or "gerbang-audit-probe"

    def for_app(self, app: AppRecord) -> list[tuple[str, str | None]]:
        fresh = self._claims(app.resource, self._now)
        expired = self._claims(app.resource, self._now - 90)
        other = self._claims(NO_APP_AUDIENCE, self._now)
        probes: list[tuple[str, str | None]] = [("no-assertion", None), ("forged", self._forge(fresh))]
        if self._hub_sign is not None:
            probes.append(("expired", self._hub_sign(expired, typ=ASSERTION_TYP)))
            probes.append(("wrong-audience", self._hub_sign(other, typ=ASSERTION_TYP)))
        else:
            probes.append(("expired", self._forge(expired)))
        return probes

    def _claims(self, audience: str, issued_at: int) -> dict[str, Any]:
        return {
            "iss": self._issuer,
            "aud": audience,
            "sub": PROBE_SUB,
            "roles": [],
            "iat": issued_at,
            "exp": issued_at + 30,
            "jti": secrets.token_urlsafe(12),
        }

    def _forge(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._throwaway, algorithm="ES256", headers={"kid": self._kid, "typ": ASSERTION_TYP})


async def audit_apps(
    apps: Sequence[AppRecord],
    assertions: ProbeAssertions,
    *,
    timeout: float = 5.0,
    concurrency: int = 16,
    addresses: UpstreamAddresses | None = None,
) -> list[AppAudit]:
    """``addresses``: the settings' upstream address rules, enforced at connect time as the proxy does."""
    limit = asyncio.Semaphore(concurrency)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    connector = aiohttp.TCPConnector(socket_factory=(addresses or UpstreamAddresses()).socket_factory)
    async with aiohttp.ClientSession(timeout=client_timeout, connector=connector) as session:

        async def probe(upstream: str, name: str, token: str | None) -> ProbeResult:
            async with limit:
                return await probe_upstream(session, upstream, name, token)

        audits = []
        for app in apps:
            jobs = [
                probe(upstream, name, token) for upstream in app.upstreams for name, token in assertions.for_app(app)
            ]
            audits.append(AppAudit(app.slug, tuple(await asyncio.gather(*jobs))))
    return audits


async def probe_upstream(session: aiohttp.ClientSession, upstream: str, probe: str, token: str | None) -> ProbeResult:
    headers = {"X-Gerbang-Assertion": token} if token is not None else {}
    try:
        async with session.get(upstream + "/", headers=headers, allow_redirects=False) as response:
            return ProbeResult(upstream, probe, response.status)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        refused = isinstance(getattr(exc, "os_error", None), UpstreamRefused) or isinstance(exc, UpstreamRefused)
        return ProbeResult(
            upstream,
            probe,
            None,
            "refused by GERBANG_UPSTREAM_ALLOW/DENY" if refused else f"unreachable: {type(exc).__name__}",
        )
