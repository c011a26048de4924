"""The security event log: what happened to an account's or a client's security, apart from the audit chain.

The audit chain (``idp.audit``) records administrators' changes and is kept for ever; security events are
many, personal (an IP address), and are purged after ``security_event_retention_days`` (``idp.pdp.jobs``).
Kinds (``KINDS``), with ``reason`` where one applies:

    login.succeeded           a password (and second factor) sign-in finished
    login.failed              reason: unknown_account | wrong_password | disabled | second_factor
    login.locked              reason: throttled (the per-account or per-IP sign-in limit refused the attempt)
    mfa.changed               reason: totp_enabled | totp_disabled | passkey_added | passkey_removed | mfa_reset
    password.reset            reason: link (a reset link was used) | changed (on /account)
    token.revoked             reason: revocation_endpoint | consent_withdrawn | account_deleted
    client.auth_failed        reason: invalid_client (the token, revocation or introspection endpoint)
    account.deletion          reason: requested | cancelled | erased

Writing one never fails the request that caused it: a failed write is logged and dropped.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from idp.accounts import load_user_by_login
from idp.storage.models import SecurityEvent

log = logging.getLogger("gerbang.security_events")

LOCKOUT_QUIET = 60  # seconds: a throttled account or IP hammering the login writes one lock-out event a minute
_MAX_QUIET_KEYS = 10_000
# Per provider (per process): when each (account, IP) last had a lock-out written; the bound keeps it small.
_last_lockout: WeakKeyDictionary[Any, OrderedDict[tuple[str, str], int]] = WeakKeyDictionary()

KINDS = (
    "login.succeeded",
    "login.failed",
    "login.locked",
    "mfa.changed",
    "password.reset",
    "token.revoked",
    "client.auth_failed",
    "account.deletion",
)


@dataclass(frozen=True)
class EventFilter:
    kind: str | None = None
    user_id: str | None = None
    client_id: str | None = None
    since: int | None = None
    until: int | None = None


def build_event(
    kind: str,
    now: int,
    *,
    user_id: str | None = None,
    client_id: str | None = None,
    reason: str | None = None,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> SecurityEvent:
    if kind not in KINDS:
        raise ValueError(f"unknown security event kind {kind!r}")
    return SecurityEvent(
        at=now,
        kind=kind,
        user_id=user_id,
        client_id=client_id and client_id[:64],
        reason=reason and reason[:64],
        ip=ip and ip[:64],
        detail=detail or {},
    )


def add_security_event(session: AsyncSession, kind: str, now: int, **fields: Any) -> None:
    """Write one event in the caller's transaction, with the change it records (``build_event``'s fields)."""
    session.add(build_event(kind, now, **fields))


async def record_security_event(
    sessionmaker: async_sessionmaker[AsyncSession], kind: str, now: int, **fields: Any
) -> None:
    """Write one event in its own transaction; a database failure is logged, not raised."""
    event = build_event(kind, now, **fields)
    try:
        async with sessionmaker() as session, session.begin():
            session.add(event)
    except Exception:
        log.warning("security event %s could not be stored", kind, exc_info=True)


async def note_login(
    request: Request,
    provider: Any,
    kind: str,
    *,
    user_id: str | None = None,
    login: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """A sign-in event from a page: the account named by ``login`` when no id is known (a lock-out happens
    before the password is looked at); the login text itself is never stored. A lock-out is written once per
    ``LOCKOUT_QUIET`` seconds per account and IP, so a throttled attacker does not buy a write per request."""
    ip = request.client.host if request.client else None
    if kind == "login.locked" and _is_quiet(
        _last_lockout.setdefault(provider, OrderedDict()), (user_id or login or "", ip or ""), provider.clock.now()
    ):
        return
    if user_id is None and login:
        try:
            async with provider.sessionmaker() as session:
                user = await load_user_by_login(session, login)
            user_id = user.id if user is not None else None
        except Exception:
            log.warning("security event: the account could not be looked up", exc_info=True)
    await record_security_event(
        provider.sessionmaker, kind, provider.clock.now(), user_id=user_id, reason=reason, ip=ip, detail=detail
    )


def _is_quiet(seen: OrderedDict[tuple[str, str], int], key: tuple[str, str], now: int) -> bool:
    last = seen.get(key)
    if last is not None and 0 <= now - last < LOCKOUT_QUIET:
        return True
    seen[key] = now
    seen.move_to_end(key)
    while len(seen) > _MAX_QUIET_KEYS:
        seen.popitem(last=False)
    return False


def _filtered(query: Any, where: EventFilter) -> Any:
    if where.kind:
        query = query.where(SecurityEvent.kind == where.kind)
    if where.user_id:
        query = query.where(SecurityEvent.user_id == where.user_id)
    if where.client_id:
        query = query.where(SecurityEvent.client_id == where.client_id)
    if where.since is not None:
        query = query.where(SecurityEvent.at >= where.since)
    if where.until is not None:
        query = query.where(SecurityEvent.at < where.until)
    return query


async def list_security_events(
    session: AsyncSession, where: EventFilter, *, limit: int = 50, offset: int = 0
) -> list[SecurityEvent]:
    query = _filtered(select(SecurityEvent), where).order_by(SecurityEvent.at.desc(), SecurityEvent.id.desc())
    return list((await session.scalars(query.offset(offset).limit(limit))).all())


def event_json(event: SecurityEvent) -> dict[str, Any]:
    return {
        "at": event.at,
        "kind": event.kind,
        "user_id": event.user_id,
        "client_id": event.client_id,
        "reason": event.reason,
        "ip": event.ip,
        "detail": event.detail,
    }


async def export_security_events(session: AsyncSession, where: EventFilter, batch: int = 1000) -> AsyncIterator[str]:
    """JSON Lines, oldest first, read in keyset batches (bounded memory for a year of events)."""
    after = 0
    while True:
        query = _filtered(select(SecurityEvent), where).where(SecurityEvent.id > after)
        rows = list((await session.scalars(query.order_by(SecurityEvent.id).limit(batch))).all())
        for event in rows:
            yield json.dumps(event_json(event), ensure_ascii=False, sort_keys=True) + "\n"
        if len(rows) < batch:
            return
        after = rows[-1].id
