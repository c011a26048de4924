"""The gateway's own OAuth client at the provider (``gerbang-gateway``) and the redirect URIs it may use.

The gateway is the relying party of every ``session`` app on that app's own host: its callback is
``{app origin}/.gerbang/callback``. The client's registered redirect URIs are exactly those of the routed
session apps, rewritten whenever the route table changes (every instance computes the same list; the
write is skipped when nothing changed), so the provider's exact ``redirect_uri`` match stays exact.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterable
from urllib.parse import quote_plus

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.model import Route
from idp.app_origins import app_origin
from idp.clients import GATEWAY_CLIENT_ID, digest_secret, find_client
from idp.clock import Clock
from idp.storage.db import serialize
from idp.storage.insert_if_absent import insert_if_absent
from idp.storage.models import Client

CLIENT_ID = GATEWAY_CLIENT_ID
CALLBACK_PATH = "/.gerbang/callback"


def gateway_client_secret(secret: bytes) -> str:
    """Every instance derives the same secret from the settings secret; only its digest is stored."""
    return hmac.new(secret, b"gerbang-gateway-client", hashlib.sha256).hexdigest()


def basic_auth(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: both parts form-urlencoded before the Basic encoding."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def build_callbacks(issuer: str, routes: Iterable[Route]) -> list[str]:
    """The callback on every host of every routed ``session`` app, sorted (a stable value to compare)."""
    return sorted(
        {
            app_origin(issuer, host) + CALLBACK_PATH
            for route in routes
            if route.auth_mode == "session"
            for host in route.hosts
        }
    )


async def ensure_gateway_client(session: AsyncSession, issuer: str, secret: bytes, now: int) -> None:
    """Every instance runs this at start, often at the same moment: insert-if-absent, then bring the secret up to
    date (its redirect URIs follow the session apps: ``GatewayClientSync``)."""
    digest = digest_secret(gateway_client_secret(secret))
    created = await insert_if_absent(
        session,
        Client,
        "client_id",
        dict(
            client_id=CLIENT_ID,
            secret_digest=digest,
            name="Gerbang",
            redirect_uris=[],
            post_logout_redirect_uris=[],
            grant_types=["authorization_code"],
            scope="openid profile email opd",
            auth_method="client_secret_basic",
            resources=[],
            first_party=True,
            status="active",
            created_at=now,
            updated_at=now,
        ),
    )
    if created:
        return
    client = await find_client(session, CLIENT_ID)
    if client is not None and client.secret_digest != digest:
        client.secret_digest, client.updated_at = digest, now


class GatewayClientSync:
    """Keeps ``gerbang-gateway``'s redirect URIs equal to the session apps' callbacks (a registry hook)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        issuer: str,
        clock: Clock,
        forget: Callable[[str], None] | None = None,
    ) -> None:
        self._sessionmaker, self._issuer, self._clock, self._forget = sessionmaker, issuer, clock, forget
        self._last: list[str] | None = None

    async def __call__(self, routes: tuple[Route, ...]) -> None:
        wanted = build_callbacks(self._issuer, routes)
        if wanted == self._last:
            return
        async with self._sessionmaker() as session, session.begin():
            await serialize(session, "gerbang-gateway-client")
            client = await find_client(session, CLIENT_ID)
            if client is not None and sorted(client.redirect_uris) != wanted:
                client.redirect_uris, client.updated_at = wanted, max(self._clock.now(), client.updated_at)
        self._last = wanted
        if self._forget is not None:
            self._forget(CLIENT_ID)
