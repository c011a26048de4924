"""The profile rule at issue time: a client outside the profile Kominfo's policy requires of an app's clients gets
no code and no token for that app (``idp.profile_rule``), however it asks: authorization code, PAR, refresh token,
client_credentials, device grant or token exchange.

The refusal is ``unauthorized_client`` (RFC 6749 §4.1.2.1 and §5.2, RFC 8628 §3.2, RFC 9126 §2.3): the client
authenticated and its request is well formed, but this client is not authorized to obtain it. ``invalid_client``
would tell it that its credentials are wrong (and count as a failed authentication), ``invalid_target`` that the
resource is, and ``invalid_grant`` that its grant is: none of them is true, and retrying would not help.

Tokens of a client that follows a profile carry it (``gerbang_profile``), so the gateway can refuse a token for
a bound app that was issued outside the profile without asking the provider (``gateway.authenticate``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from authlib.oauth2.rfc6749 import UnauthorizedClientError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from idp.oauth.state import Preloaded, current
from idp.oauth.store import CLIENT_CACHE_TTL, _retrieve
from idp.profile_rule import ProfileBreach, ServedApp, find_breach, load_served_apps
from idp.storage.models import Client
from policies.engine import PolicySet

PROFILE_CLAIM = "gerbang_profile"


def find_issue_breach(policy: PolicySet, client: Client, audiences: list[str]) -> ProfileBreach | None:
    """The breach of issuing ``client`` a code or token for ``audiences`` (``current().served_apps`` preloaded)."""
    apps = current().served_apps
    if apps is None:
        raise RuntimeError("the apps a client serves were not preloaded before authlib ran")
    return find_breach(policy, client.client_id, client.profile, apps, audiences)


def refusal(breach: ProfileBreach) -> UnauthorizedClientError:
    return UnauthorizedClientError(
        f"The city's policy ({breach.rule_id}) requires the {breach.profile} profile of every client of "
        f"app '{breach.app}'; this client does not follow it."
    )


def check_issue_profile(policy: PolicySet, client: Client, audiences: list[str]) -> None:
    breach = find_issue_breach(policy, client, audiences)
    if breach is not None:
        raise refusal(breach)


def profile_claims(client: Client) -> dict[str, Any]:
    """The claim recording the profile the token was issued under (none for a client without one)."""
    return {PROFILE_CLAIM: client.profile} if client.profile else {}


class ServedAppCache:
    """Every registered app as the profile rule sees it, read for the whole registry at most once per
    ``CLIENT_CACHE_TTL`` seconds (single flight, as ``ClientCache``): the token endpoint asks on every request,
    and one column query of the apps table per request cost ~0.8 ms (SQLite, measured) where a dict costs µs. An
    app's change reaches the provider within the TTL; the policy itself is read live at every check."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], issuer: str, apps_domain: str) -> None:
        self._sessionmaker = sessionmaker
        self._issuer, self._apps_domain = issuer, apps_domain
        self._apps: tuple[float, tuple[ServedApp, ...]] | None = None  # (valid until, apps)
        self._loading: asyncio.Task[tuple[ServedApp, ...]] | None = None

    async def served(
        self, client_ids: Iterable[str], resources: Iterable[str], holding: AsyncSession | None = None
    ) -> list[ServedApp]:
        """The apps whose own client is one of ``client_ids`` or whose resource is one of ``resources``.
        ``holding``: the caller's open session, closed before a read (never wait for a connection holding one)."""
        ids, uris = set(client_ids), set(resources)
        return [app for app in await self._current(holding) if app.client_id in ids or app.resource in uris]

    async def _current(self, holding: AsyncSession | None) -> tuple[ServedApp, ...]:
        cached = self._apps
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        if holding is not None:
            await holding.close()
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._read())
            self._loading.add_done_callback(_retrieve)
        return await asyncio.shield(self._loading)

    async def _read(self) -> tuple[ServedApp, ...]:
        try:
            started = time.monotonic()
            async with self._sessionmaker() as session:
                apps = tuple(await load_served_apps(session, self._issuer, self._apps_domain, every=True))
            self._apps = (started + CLIENT_CACHE_TTL, apps)
            return apps
        finally:
            self._loading = None


async def preload_served_apps(
    cache: ServedAppCache,
    state: Preloaded,
    client_ids: set[str],
    resources: Iterable[str],
    holding: AsyncSession | None = None,
) -> None:
    """Before authlib runs: the apps these clients serve or these resources name (the code's, the grant's, the
    device code's and the requested ones)."""
    state.served_apps = await cache.served(client_ids, resources, holding)


def resources_at_token_endpoint(form: dict[str, list[str]], state: Preloaded) -> set[str]:
    """Every audience a token request could end up with: requested (``resource``, RFC 8693 ``audience``) and
    carried by what it redeems."""
    found = set(form.get("resource", [])) | set(form.get("audience", []))
    for row in (state.code, state.grant, state.device):
        if row is not None:
            found.update(row.resources or ())
    return found
