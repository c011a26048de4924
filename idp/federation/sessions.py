"""Hub sessions started through an upstream: remembered so that logging out here also ends the upstream
session (RP-Initiated Logout at its ``end_session_endpoint``) and an upstream's back-channel logout token
(OIDC Back-Channel Logout 1.0 §2.6) ends the hub sessions it names."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from idp.clock import Clock
from idp.storage.models import BrowserSession, FederatedSession

EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_LOGOUT_TOKEN_AGE = 300


class LogoutTokenInvalid(Exception):
    """The upstream's logout token fails a §2.6 check (detail for the log only)."""


def check_logout_claims(claims: dict[str, Any], issuer: str, client_id: str, now: int) -> None:
    """OIDC Back-Channel Logout §2.6 steps 3-7 (the signature is checked before)."""
    aud = claims.get("aud")
    if claims.get("iss") != issuer or (aud != client_id and not (isinstance(aud, list) and client_id in aud)):
        raise LogoutTokenInvalid("iss or aud")
    iat = claims.get("iat")
    if not isinstance(iat, int) or iat > now + 30 or iat < now - MAX_LOGOUT_TOKEN_AGE:
        raise LogoutTokenInvalid("iat")
    if "exp" in claims and (not isinstance(claims["exp"], int) or claims["exp"] <= now - 30):
        raise LogoutTokenInvalid("exp")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(EVENT), dict):
        raise LogoutTokenInvalid("events")
    if "nonce" in claims:
        raise LogoutTokenInvalid("nonce")
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise LogoutTokenInvalid("jti")
    if not isinstance(claims.get("sid"), str) and not isinstance(claims.get("sub"), str):
        raise LogoutTokenInvalid("neither sid nor sub")


class FederatedSessions:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, secret: bytes) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._mac_key = hashlib.sha256(b"gerbang-upstream-logout" + secret).digest()

    async def record(self, row: BrowserSession, slug: str, claims: dict[str, Any], id_token: str) -> None:
        now = self._clock.now()
        upstream_sid = claims.get("sid") if isinstance(claims.get("sid"), str) else None
        async with self._sessionmaker() as session, session.begin():
            await session.execute(delete(FederatedSession).where(FederatedSession.expires_at <= now))
            session.add(
                FederatedSession(
                    sid=row.sid,
                    idp_slug=slug,
                    subject=claims["sub"],
                    upstream_sid=upstream_sid,
                    id_token=id_token,
                    created_at=now,
                    expires_at=row.expires_at,
                )
            )

    async def load(self, sid: str) -> FederatedSession | None:
        async with self._sessionmaker() as session:
            return await session.get(FederatedSession, sid)

    async def hub_sessions_named(self, slug: str, claims: dict[str, Any]) -> list[BrowserSession]:
        """Live hub sessions a logout token names: by upstream ``sid`` (and ``sub`` if given), else every
        session of ``sub`` through this upstream."""
        query = (
            select(BrowserSession)
            .join(FederatedSession, FederatedSession.sid == BrowserSession.sid)
            .where(FederatedSession.idp_slug == slug, BrowserSession.ended_at.is_(None))
        )
        if isinstance(claims.get("sid"), str):
            query = query.where(FederatedSession.upstream_sid == claims["sid"])
        if isinstance(claims.get("sub"), str):
            query = query.where(FederatedSession.subject == claims["sub"])
        async with self._sessionmaker() as session:
            return list((await session.scalars(query)).all())

    def sign_return(self, target: str | None) -> str:
        """The ``state`` sent to the upstream's end_session_endpoint: where to go after it, signed, short-lived."""
        payload = base64.urlsafe_b64encode(json.dumps({"to": target, "exp": self._clock.now() + 600}).encode())
        mac = hmac.new(self._mac_key, payload, hashlib.sha256).digest()
        return f"{payload.decode()}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    def open_return(self, state: str | None) -> tuple[bool, str | None]:
        """``(valid, target)`` for a state made by ``sign_return``."""
        payload, _, mac = (state or "").partition(".")
        expected = base64.urlsafe_b64encode(hmac.new(self._mac_key, payload.encode(), hashlib.sha256).digest())
        if not payload or not hmac.compare_digest(expected.decode().rstrip("="), mac):
            return False, None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload))
        except ValueError:
            return False, None
        if not isinstance(data, dict) or not isinstance(data.get("exp"), int) or data["exp"] < self._clock.now():
            return False, None
        return True, data.get("to") if isinstance(data.get("to"), str) else None
