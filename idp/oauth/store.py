"""Storage around the OAuth server: preload what authlib will read, apply what it wrote.

Clients are cached in memory for a few seconds (the token endpoint is hot); a suspension or
secret change reaches every instance within ``CLIENT_CACHE_TTL``.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, cast
from urllib.parse import unquote

from authlib.oauth2.rfc8628 import DEVICE_CODE_GRANT_TYPE
from sqlalchemy import CTE, Select, Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import joinedload, raiseload

from idp.audit import append_audit
from idp.oauth.par import spend_pushed_request
from idp.oauth.state import Effects, Preloaded
from idp.oauth.tokens import digest
from idp.storage.db import (
    Write,
    column_values,
    inserting,
    is_single_statements,
    rows_affected,
    single_statements,
    with_defaults,
    write_together,
)
from idp.storage.models import (
    AccessToken,
    AuthorizationCode,
    BrowserSession,
    Client,
    Consent,
    DeviceCode,
    Grant,
    PushedRequest,
    RefreshToken,
    ReplayMark,
    RevokedToken,
    User,
)

CODES = cast(Table, AuthorizationCode.__table__)
INSERT_CODE = insert(CODES)
INSERT_GRANT = insert(cast(Table, Grant.__table__))
CLIENT_CACHE_TTL = 3.0
CLIENT_CACHE_SIZE = 10_000  # entries (a city has ~2,000 clients); ~2 KiB each with the row


class ClientCache:
    """Clients by id for ``CLIENT_CACHE_TTL`` seconds. When an entry expires under load, the requests that find
    it expired share one database read (single flight) instead of each running its own at the same moment;
    the read runs as its own task, so a request that gives up waiting does not fail the others."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], max_entries: int = CLIENT_CACHE_SIZE) -> None:
        self._sessionmaker = sessionmaker
        self._max_entries = max_entries
        self._entries: dict[str, tuple[float, Client | None]] = {}  # least recently loaded first
        self._loading: dict[str, asyncio.Task[dict[str, Client | None]]] = {}

    async def get_many(self, client_ids: set[str], holding: AsyncSession | None = None) -> dict[str, Client]:
        """``holding``: the caller's open session. On a miss it is closed first (it can be used again): a request
        never waits for a database connection while holding one, which under load would leave every pooled
        connection held by requests waiting for the one read that needs another."""
        now = time.monotonic()
        found: dict[str, Client] = {}
        missing = []
        for client_id in client_ids:
            entry = self._entries.get(client_id)
            if entry and entry[0] > now:
                if entry[1] is not None:
                    found[client_id] = entry[1]
            else:
                missing.append(client_id)
        if not missing:
            return found
        if holding is not None:
            await holding.close()
        to_load = [client_id for client_id in missing if client_id not in self._loading]
        if to_load:
            task = asyncio.ensure_future(self._read(to_load, now))
            task.add_done_callback(_retrieve)
            self._loading.update(dict.fromkeys(to_load, task))
        for read in {self._loading[client_id] for client_id in missing}:
            loaded = await asyncio.shield(read)
            found.update(
                {
                    client_id: client
                    for client_id, client in loaded.items()
                    if client is not None and client_id in missing
                }
            )
        if holding is not None and is_single_statements(holding):
            await single_statements(holding)  # only now: no connection is held while the read above waits for one
        return found

    async def _read(self, client_ids: list[str], now: float) -> dict[str, Client | None]:
        try:
            async with self._sessionmaker() as session:
                await single_statements(session)
                rows = (await session.scalars(select(Client).where(Client.client_id.in_(client_ids)))).all()
            loaded: dict[str, Client | None] = dict.fromkeys(client_ids)
            loaded.update((row.client_id, row) for row in rows)
            for client_id, client in loaded.items():
                self._entries.pop(client_id, None)
                self._entries[client_id] = (now + CLIENT_CACHE_TTL, client)
            if len(self._entries) > self._max_entries:
                self._shrink(now)
            return loaded
        finally:
            for client_id in client_ids:
                self._loading.pop(client_id, None)

    def __len__(self) -> int:
        return len(self._entries)

    def _shrink(self, now: float) -> None:
        """Expired entries go, then the least recently loaded (requests naming unknown client ids are cached
        too, as absent: a flood of random ids must not grow the cache)."""
        self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
        excess = len(self._entries) - self._max_entries * 9 // 10
        if excess > 0:
            for client_id in list(itertools.islice(self._entries, excess)):
                del self._entries[client_id]

    def forget(self, client_id: str) -> None:
        self._entries.pop(client_id, None)


def _retrieve(task: asyncio.Task[Any]) -> None:
    """A failed read whose requests all gave up is still retrieved (no "exception never retrieved" noise)."""
    if not task.cancelled():
        task.exception()


def candidate_client_ids(form: dict[str, list[str]], authorization: str | None) -> set[str]:
    """Every client id the request could authenticate as (header, form, or assertion subject)."""
    ids = set(form.get("client_id", [])[:1])
    if authorization and authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:], validate=True).decode()
            ids.add(unquote(decoded.split(":", 1)[0]))
        except (ValueError, UnicodeDecodeError):
            pass
    assertion = form.get("client_assertion", [None])[0]
    if assertion and assertion.count(".") == 2:
        try:
            payload = assertion.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            if isinstance(claims, dict) and isinstance(claims.get("sub"), str):
                ids.add(claims["sub"])
        except (ValueError, UnicodeDecodeError):
            pass
    return {client_id for client_id in ids if 0 < len(client_id) <= 64}


async def preload_grant_rows(session: AsyncSession, form: dict[str, list[str]], state: Preloaded) -> None:
    grant_type = form.get("grant_type", [None])[0]
    if grant_type == "authorization_code" and form.get("code"):
        # The code, its person and her memberships (the token's claims) in one round trip.
        code_found = (
            (
                await session.execute(
                    select(AuthorizationCode, User)
                    .outerjoin(User, User.id == AuthorizationCode.user_id)
                    .where(AuthorizationCode.code_digest == digest(form["code"][0]))
                    .options(joinedload(User.memberships))
                )
            )
            .unique()
            .first()
        )
        if code_found is not None:
            state.code, state.user = code_found
    elif grant_type == DEVICE_CODE_GRANT_TYPE and form.get("device_code"):
        state.device = await session.get(DeviceCode, digest(form["device_code"][0]))
        if state.device is not None and state.device.user_id:
            state.user = await session.get(User, state.device.user_id)
    elif grant_type == "refresh_token" and form.get("refresh_token"):
        # The hottest user grant: the token, its family, the person and the sign-in in one round trip. A token
        # whose family is gone reads as unknown.
        found = (
            await session.execute(
                select(RefreshToken, Grant, User, BrowserSession)
                .join(Grant, Grant.id == RefreshToken.grant_id)
                .outerjoin(User, User.id == Grant.user_id)
                .outerjoin(BrowserSession, BrowserSession.sid == Grant.session_id)
                .where(RefreshToken.token_digest == digest(form["refresh_token"][0]))
                .options(raiseload(User.memberships))  # a refresh releases no person claims: no second query
            )
        ).first()
        if found is not None:
            state.refresh, state.grant, state.user, state.browser_session = found


async def apply_effects(session: AsyncSession, effects: Effects, now: int) -> str | None:
    """Apply writes in the caller's transaction. Returns an OAuth error code if a race was lost.

    Revocations are applied first and kept even when the response becomes an error.
    """
    if effects.revoke_grant:
        await revoke_family(session, effects.revoke_grant, now, "replay")
    for key, expires_at in effects.replay_marks:
        if await session.get(ReplayMark, key) is not None:
            return "invalid_client"
        add_replay_mark(session, key, expires_at)
    if effects.redeem_code:
        result = await session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.code_digest == effects.redeem_code, AuthorizationCode.redeemed_at.is_(None))
            .values(redeemed_at=now)
            .execution_options(synchronize_session=False)
        )
        if rows_affected(result) != 1:
            return "invalid_grant"
    if effects.rotate_refresh:
        result = await session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_digest == effects.rotate_refresh, RefreshToken.rotated_at.is_(None))
            .values(rotated_at=now)
            .execution_options(synchronize_session=False)
        )
        if rows_affected(result) != 1:
            return "invalid_grant"
    if effects.device_polled:
        await record_device_poll(session, *effects.device_polled, now)
    if effects.redeem_device:
        result = await session.execute(
            update(DeviceCode)
            .where(DeviceCode.code_digest == effects.redeem_device, DeviceCode.status == "approved")
            .values(status="redeemed")
        )
        if rows_affected(result) != 1:
            return "invalid_grant"
    if effects.spend_pushed and not await spend_pushed_request(session, effects.spend_pushed, now):
        return "invalid_request_uri"
    # Plain INSERTs rather than the unit of work: nothing reads these objects back in this transaction. The
    # statements are built once and the rows passed as parameters (nothing to traverse for the cache key).
    if effects.new_code:
        await session.execute(INSERT_CODE, _code_row(effects.new_code))
    if effects.new_grant:
        await session.execute(INSERT_GRANT, column_values(effects.new_grant))
    if effects.new_refresh:
        await session.execute(insert(RefreshToken).values(**column_values(effects.new_refresh)))
    if effects.access_jtis:
        await session.execute(
            insert(AccessToken),
            [
                {"jti": jti, "grant_id": grant_id, "client_id": client_id, "expires_at": expires_at}
                for jti, grant_id, client_id, expires_at in effects.access_jtis
            ],
        )
    if effects.revoke_jti:
        await revoke_jti(session, *effects.revoke_jti)
    if effects.touch_session:
        await session.execute(
            update(BrowserSession)
            .where(BrowserSession.sid == effects.touch_session, BrowserSession.ended_at.is_(None))
            .values(last_seen=now)
            .execution_options(synchronize_session=False)
        )
    for entry in effects.audit:  # last: the audit chain stays locked until the transaction ends
        await append_audit(session, now=now, **entry)
    return None


async def apply_effects_and_add(
    session: AsyncSession, effects: Effects, now: int, row: DeviceCode | PushedRequest
) -> str | None:
    """``apply_effects``, then insert what the request made (a device code, a pushed request) unless a race was
    lost: then the error code, and nothing inserted (the revocations still stand)."""
    error = await apply_effects(session, effects, now)
    if error is None:
        session.add(row)
    return error


def add_replay_mark(session: AsyncSession, key: str, expires_at: int) -> None:
    """A single-use key (a client assertion's or logout token's ``jti``); a second insert of it fails."""
    session.add(ReplayMark(key=key, expires_at=expires_at))


async def record_device_poll(session: AsyncSession, code_digest: str, too_fast: bool, now: int) -> None:
    """RFC 8628 §3.5: remember the poll; one too soon adds 5 seconds to the interval for good."""
    values: dict[str, Any] = {"last_polled_at": now}
    if too_fast:
        values["interval"] = DeviceCode.interval + 5
    await session.execute(update(DeviceCode).where(DeviceCode.code_digest == code_digest).values(**values))


async def load_device_code(session: AsyncSession, user_code: str) -> DeviceCode | None:
    """``user_code`` as stored (``idp.oauth.device.normalize_user_code``)."""
    return await session.scalar(select(DeviceCode).where(DeviceCode.user_code == user_code))


async def record_device_decision(session: AsyncSession, code_digest: str, values: dict[str, Any]) -> None:
    """RFC 8628 §3.3: the person's answer; written only while the code is still pending."""
    await session.execute(
        update(DeviceCode).where(DeviceCode.code_digest == code_digest, DeviceCode.status == "pending").values(**values)
    )


async def is_jti_revoked(session: AsyncSession, jti: str) -> bool:
    return await session.get(RevokedToken, jti) is not None


async def revoke_jti(session: AsyncSession, jti: str, expires_at: int) -> None:
    if not await is_jti_revoked(session, jti):
        session.add(RevokedToken(jti=jti, expires_at=expires_at))


async def load_refresh_token(session: AsyncSession, token_digest: str) -> tuple[RefreshToken | None, Grant | None]:
    """The refresh token with this digest and its grant: (None, None) for none, (token, None) for a lost grant."""
    refresh = await session.get(RefreshToken, token_digest)
    if refresh is None:
        return None, None
    return refresh, await session.get(Grant, refresh.grant_id)


async def revoke_family(session: AsyncSession, grant_id: str, now: int, reason: str) -> None:
    """Revoke a token family: the grant, its refresh tokens, and every access token issued from it."""
    grant = await session.get(Grant, grant_id, with_for_update=True)
    if grant is None or grant.revoked_at is not None:
        return
    grant.revoked_at = now
    grant.revoked_reason = reason
    rows = (
        await session.execute(
            select(AccessToken.jti, AccessToken.expires_at).where(
                AccessToken.grant_id == grant_id, AccessToken.expires_at > now
            )
        )
    ).all()
    for jti, expires_at in rows:
        await revoke_jti(session, jti, expires_at)


async def apply_in_transaction(
    sessionmaker: async_sessionmaker[AsyncSession], effects: Effects, now: int, also: Sequence[Write] = ()
) -> str | None:
    """``also``: the caller's own writes, in the same transaction, made only when the effects apply. A code issued
    and nothing else is written with them as one statement on PostgreSQL (``write_together``)."""
    try:
        if effects.is_plain_code_issue():
            await write_together(sessionmaker, [_inserting_code(effects), *also])
            return None
        one_statement = (
            _rotate_in_one_statement
            if effects.is_plain_rotation()
            else _redeem_in_one_statement
            if effects.is_plain_redemption()
            else None
        )
        if not also and one_statement is not None:
            async with sessionmaker() as session:
                if session.get_bind().dialect.name == "postgresql":
                    if await one_statement(await single_statements(session), effects, now):
                        return None
                    await _revoke_after_race(sessionmaker, effects, now)
                    return "invalid_grant"
        async with sessionmaker() as session, session.begin():
            error = await apply_effects(session, effects, now)
            if error is None:
                for statement, values in also:
                    await session.execute(statement, values)
                return None
        # A lost race: keep only the security effects (revocations).
        if effects.revoke_grant or effects.redeem_code or effects.rotate_refresh:
            await _revoke_after_race(sessionmaker, effects, now)
        return error
    except IntegrityError:
        return "invalid_grant"


def _inserting_code(effects: Effects) -> Write:
    assert effects.new_code is not None
    return inserting(CODES, _code_row(effects.new_code), "code__")


def _code_row(new_code: dict[str, Any]) -> dict[str, Any]:
    """The new code's column values (what ``column_values(AuthorizationCode(**new_code))`` gives, without building
    an ORM object; a key that is no column fails as the constructor would)."""
    unknown = new_code.keys() - CODES.c.keys()
    if unknown:
        raise TypeError(f"not a column of authorization_codes: {sorted(unknown)}")
    return new_code


async def _rotate_in_one_statement(session: AsyncSession, effects: Effects, now: int) -> bool:
    """A refresh's writes as one PostgreSQL statement (data-modifying CTEs, atomic on its own): the old token is
    marked rotated only if it still was not, and the successor, the access token's jti and the sign-in's touch are
    written only from that row. One round trip instead of five (BEGIN, two INSERTs, an UPDATE, COMMIT): the
    refresh grant is the hottest write a city's relying parties make. False: another request rotated it first.
    The statement is built once per shape (``_rotation``); the request passes only the values."""
    assert effects.rotate_refresh is not None and effects.new_refresh is not None
    successor = with_defaults(cast(Table, RefreshToken.__table__), column_values(effects.new_refresh))
    [(jti, grant_id, client_id, expires_at)] = effects.access_jtis
    access_row = {"jti": jti, "grant_id": grant_id, "client_id": client_id, "expires_at": expires_at}
    values = {
        "rotated__digest": effects.rotate_refresh,
        "rotated__now": now,
        **_prefixed("successor", successor),
        **_prefixed("access", access_row),
    }
    if effects.touch_session:
        values["touched__sid"] = effects.touch_session
    statement = _rotation(tuple(successor), bool(effects.touch_session))
    return (await session.scalar(statement, values)) == 1


@lru_cache(maxsize=16)
def _rotation(successor_keys: tuple[str, ...], touch: bool) -> Select[int]:
    refresh, access = cast(Table, RefreshToken.__table__), cast(Table, AccessToken.__table__)
    rotated = (
        update(refresh)
        .where(refresh.c.token_digest == bindparam("rotated__digest"), refresh.c.rotated_at.is_(None))
        .values(rotated_at=bindparam("rotated__now"))
        .returning(refresh.c.grant_id)
        .cte("rotated")
    )
    writes = [
        _insert_one_from(refresh, successor_keys, rotated, "successor"),
        _insert_one_from(access, ACCESS_KEYS, rotated, "access"),
    ]
    if touch:
        sessions = cast(Table, BrowserSession.__table__)
        writes.append(
            update(sessions)
            .where(
                sessions.c.sid == bindparam("touched__sid"),
                sessions.c.ended_at.is_(None),
                select(rotated.c.grant_id).exists(),
            )
            .values(last_seen=bindparam("rotated__now"))
            .cte("touched")
        )
    return select(func.count()).select_from(rotated).add_cte(*writes)


async def _redeem_in_one_statement(session: AsyncSession, effects: Effects, now: int) -> bool:
    """A code's exchange as one PostgreSQL statement (data-modifying CTEs, atomic on its own): the code is marked
    redeemed only if it still was not, and its token family, refresh token and access token's jti are written only
    from that row. One round trip instead of six (BEGIN, an UPDATE, three INSERTs, COMMIT), every sign-in's last
    step. False: the code was redeemed already (a replay, or another request first). The statement is built once
    per shape (``_redemption``); the request passes only the values."""
    assert effects.redeem_code is not None and effects.new_grant is not None
    family = with_defaults(cast(Table, Grant.__table__), column_values(effects.new_grant))
    refresh = (
        with_defaults(cast(Table, RefreshToken.__table__), column_values(effects.new_refresh))
        if effects.new_refresh is not None
        else None
    )
    [(jti, grant_id, client_id, expires_at)] = effects.access_jtis
    access_row = {"jti": jti, "grant_id": grant_id, "client_id": client_id, "expires_at": expires_at}
    values = {
        "redeemed__digest": effects.redeem_code,
        "redeemed__now": now,
        **_prefixed("family", family),
        **_prefixed("refresh", refresh or {}),
        **_prefixed("access", access_row),
    }
    statement = _redemption(tuple(family), tuple(refresh) if refresh is not None else None)
    return (await session.scalar(statement, values)) == 1


@lru_cache(maxsize=16)
def _redemption(family_keys: tuple[str, ...], refresh_keys: tuple[str, ...] | None) -> Select[int]:
    redeemed = (
        update(CODES)
        .where(CODES.c.code_digest == bindparam("redeemed__digest"), CODES.c.redeemed_at.is_(None))
        .values(redeemed_at=bindparam("redeemed__now"))
        .returning(CODES.c.family_id)
        .cte("redeemed")
    )
    writes = [_insert_one_from(cast(Table, Grant.__table__), family_keys, redeemed, "family")]
    if refresh_keys is not None:
        writes.append(_insert_one_from(cast(Table, RefreshToken.__table__), refresh_keys, redeemed, "refresh"))
    writes.append(_insert_one_from(cast(Table, AccessToken.__table__), ACCESS_KEYS, redeemed, "access"))
    return select(func.count()).select_from(redeemed).add_cte(*writes)


ACCESS_KEYS = ("jti", "grant_id", "client_id", "expires_at")


def _prefixed(name: str, row: dict[str, Any]) -> dict[str, Any]:
    return {f"{name}__{key}": value for key, value in row.items()}


def _insert_one_from(table: Table, keys: tuple[str, ...], source: CTE, name: str) -> CTE:
    """An INSERT of the row in parameters ``name``__``key`` made only when ``source`` returned its row."""
    values = select(*(bindparam(f"{name}__{key}", type_=table.c[key].type) for key in keys)).select_from(source)
    return insert(table).from_select(list(keys), values).cte(name)


async def _revoke_after_race(sessionmaker: async_sessionmaker[AsyncSession], effects: Effects, now: int) -> None:
    async with sessionmaker() as session, session.begin():
        family: str | None = effects.revoke_grant
        if effects.redeem_code:
            code = await session.get(AuthorizationCode, effects.redeem_code)
            family = code.family_id if code else family
        if effects.rotate_refresh:
            token = await session.get(RefreshToken, effects.rotate_refresh)
            family = token.grant_id if token else family
        if family:
            await revoke_family(session, family, now, "replay")


async def is_nonce_seen(session: AsyncSession, client_id: str, nonce: str, now: int, window: int) -> bool:
    """Did a code of the last ``window`` seconds carry this client's ``nonce``? A point lookup on
    ``ix_authorization_codes_client_nonce``: its cost does not grow with the codes stored."""
    found = await session.scalar(
        NONCE_SEEN, {"nonce__client": client_id, "nonce__value": nonce, "nonce__since": now - window}
    )
    return found is not None


NONCE_SEEN = (  # built once: the request passes only the values
    select(CODES.c.code_digest)
    .where(
        CODES.c.client_id == bindparam("nonce__client"),
        CODES.c.nonce == bindparam("nonce__value"),
        CODES.c.expires_at > bindparam("nonce__since"),
    )
    .limit(1)
)


async def has_consent(session: AsyncSession, user_id: str, client_id: str, scope: str) -> bool:
    """Has the person consented to every scope in ``scope`` for this client?"""
    consent = await session.scalar(select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id))
    return consent is not None and set(scope.split()) <= set(consent.scope.split())
