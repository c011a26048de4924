"""OpenID Connect Back-Channel Logout 1.0: when a browser session ends, tell every client it signed in to.

Each client with a ``backchannel_logout_uri`` gets a signed logout token (§2.4: ``iss``, ``aud``,
``iat``, ``exp``, ``jti``, ``sub``, ``sid``, the back-channel ``events`` member, never a ``nonce``;
``typ`` ``logout+jwt``) in a form POST (§2.5). Delivery runs in the background so logging out never
waits on a slow client; network errors and 5xx answers are retried with doubling delays; a 4xx is the
client refusing the token and is not retried; a URI whose address the settings refuse (loopback,
link-local, cloud metadata: ``idp.upstream_addresses``) is never connected to. Every final outcome (delivered, refused, failed after the
last retry) is stored in ``logout_deliveries`` and appended to the tamper-evident audit log as
``logout.backchannel`` in the same transaction.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from idp.audit import append_audit
from idp.clock import Clock
from idp.keys import KeyRing
from idp.oauth.store import ClientCache
from idp.storage.models import BrowserSession, LogoutDelivery
from idp.upstream_addresses import UpstreamAddresses, UpstreamRefused

log = logging.getLogger("gerbang.backchannel")

EVENT = "http://schemas.openid.net/event/backchannel-logout"
TOKEN_TTL = 120
AUDIT_ACTION = "logout.backchannel"
AUDIT_ACTOR = "gerbang"


@dataclass(frozen=True)
class DeliveryPolicy:
    attempts: int
    backoff: float  # seconds before the first retry; doubles each time
    timeout: float


def build_logout_claims(issuer: str, client_id: str, row: BrowserSession, now: int) -> dict[str, object]:
    return {
        "iss": issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + TOKEN_TTL,
        "jti": uuid.uuid4().hex,
        "sub": row.user_id,
        "sid": row.sid,
        "events": {EVENT: {}},
    }


class BackchannelLogout:
    def __init__(
        self,
        keys: KeyRing,
        issuer: str,
        clients: ClientCache,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        policy: DeliveryPolicy,
        addresses: UpstreamAddresses | None = None,
    ) -> None:
        self._addresses = addresses or UpstreamAddresses()  # a client's URI is never the metadata service
        self._keys = keys
        self._issuer = issuer
        self._clients = clients
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._policy = policy
        self._tasks: set[asyncio.Task[None]] = set()

    async def on_session_end(self, row: BrowserSession) -> None:
        """A logout listener: start one delivery per client of the session; returns at once."""
        clients = await self._clients.get_many(set(row.clients))
        for client in clients.values():
            if client.backchannel_logout_uri:
                claims = build_logout_claims(self._issuer, client.client_id, row, self._clock.now())
                self._start(client.client_id, client.backchannel_logout_uri, claims)

    async def notify_client(self, client_id: str, user_id: str, sids: list[str]) -> int:
        """Tell one client that this person's sessions with it ended (consent withdrawn, account deleted):
        one token per ``sid``, or one naming only ``sub`` (§2.4 allows either) when none is live."""
        client = (await self._clients.get_many({client_id})).get(client_id)
        if client is None or not client.backchannel_logout_uri:
            return 0
        now = self._clock.now()
        targets: list[str | None] = [*sids] or [None]
        for sid in targets:
            claims: dict[str, object] = {
                "iss": self._issuer,
                "aud": client_id,
                "iat": now,
                "exp": now + TOKEN_TTL,
                "jti": uuid.uuid4().hex,
                "sub": user_id,
                "events": {EVENT: {}},
            }
            if sid is not None:
                claims["sid"] = sid
            self._start(client_id, client.backchannel_logout_uri, claims)
        return len(sids) or 1

    def _start(self, client_id: str, uri: str, claims: dict[str, object]) -> None:
        token = self._keys.sign(claims, typ="logout+jwt")
        task = asyncio.create_task(
            self._deliver(client_id, uri, str(claims.get("sid") or "-"), str(claims["sub"]), str(claims["jti"]), token)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for deliveries in flight (at shutdown, and in tests)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def _deliver(self, client_id: str, uri: str, sid: str, user_id: str, jti: str, token: str) -> None:
        started = self._clock.now()
        status, error, attempts = "failed", None, 0
        timeout = aiohttp.ClientTimeout(total=self._policy.timeout)
        connector = aiohttp.TCPConnector(socket_factory=self._addresses.socket_factory)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
            for attempts in range(1, self._policy.attempts + 1):
                try:
                    async with http.post(
                        uri, data={"logout_token": token}, allow_redirects=False, headers={"Cache-Control": "no-store"}
                    ) as response:
                        if response.status in (200, 204):
                            status, error = "delivered", None
                            break
                        error = f"HTTP {response.status}"
                        if 400 <= response.status < 500:
                            status = "refused"  # the client rejected the token; retrying will not help
                            break
                except (aiohttp.ClientError, TimeoutError) as exc:
                    error = type(exc).__name__
                    if isinstance(getattr(exc, "os_error", None), UpstreamRefused):
                        error = "address refused by GERBANG_UPSTREAM_ALLOW/DENY"  # no retry can change it
                        break
                if attempts < self._policy.attempts:
                    await asyncio.sleep(self._policy.backoff * 2 ** (attempts - 1))
        log.info("back-channel logout to %s for sid %s: %s after %d attempt(s)", client_id, sid, status, attempts)
        finished = self._clock.now()
        async with self._sessionmaker() as session, session.begin():
            session.add(
                LogoutDelivery(
                    jti=jti,
                    sid=sid,
                    client_id=client_id,
                    user_id=user_id,
                    uri=uri[:500],
                    attempts=attempts,
                    status=status,
                    last_error=error,
                    created_at=started,
                    finished_at=finished,
                )
            )
            # Last: the audit chain stays locked until this transaction commits.
            await append_audit(
                session,
                actor=AUDIT_ACTOR,
                action=AUDIT_ACTION,
                target=f"client:{client_id}",
                detail={
                    "client_id": client_id,
                    "outcome": status,
                    "attempts": attempts,
                    "error": error,
                    "sid": sid,
                    "sub": user_id,
                    "jti": jti,
                },
                now=finished,
            )
