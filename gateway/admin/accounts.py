"""User administration: search, disable/enable, end sessions, reset MFA, grant/revoke roles — scoped by OPD subtree.

Kominfo sees every account (citizens included); an OPD admin sees the ASN with a role in their subtree and
manages only those whose every role lies inside it (``actor.check_manages_user``). Roles are granted only
inside the granter's own subtree, ``kominfo-admin`` only by Kominfo, and never to oneself.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin.actor import (
    KOMINFO_ADMIN,
    Actor,
    check_kominfo,
    check_manages,
    check_manages_user,
)
from gateway.admin.bodies import RoleGrant
from gateway.admin.http import Page
from gateway.admin.request_input import check_text
from gateway.admin.scope_clauses import build_managed_clause
from gateway.errors import Conflict, Forbidden, NotFound
from idp.audit import append_audit
from idp.org import load_opd
from idp.security_events import build_event
from idp.storage.db import rows_affected
from idp.storage.gateway_models import ConsoleSession, GatewaySession
from idp.storage.models import (
    AccessToken,
    BrowserSession,
    Grant,
    LoginChallenge,
    Membership,
    OpdUnit,
    Passkey,
    RecoveryCode,
    RevokedToken,
    User,
    build_name_key,
)


def user_json(user: User, roles: list[tuple[str, str]], passkeys: bool = False) -> dict[str, Any]:
    """``mfa``: the user has a second factor (an authenticator app or a passkey)."""
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "kind": user.kind,
        "disabled": user.disabled,
        "mfa": user.totp_secret is not None or passkeys,
        "created_at": user.created_at,
        "roles": [{"opd": opd, "role": role} for opd, role in roles],
    }


async def list_users(
    session: AsyncSession,
    actor: Actor,
    page: Page,
    *,
    q: str | None,
    opd: str | None,
    disabled: bool | None,
    match: str = "contains",
    nik: str | None = None,
) -> list[dict[str, Any]]:
    """Ordered by email (unique): ``page.after`` (an email) pages by keyset at any depth.

    ``q`` matches the normalised name (``users.name_key``) and the email, as a substring or, with
    ``match="prefix"``, a prefix (served by an index on both backends); ``nik`` is an exact lookup."""
    for name, value in (("q", q), ("nik", nik)):  # the console passes its search box here unchecked
        if value is not None:
            check_text(name, value, 200)
    query = select(User).order_by(User.email)
    # Driven from the memberships of the units in scope (indexed, few) rather than a check per user (many).
    members = select(Membership.user_id).join(OpdUnit, Membership.opd_id == OpdUnit.id)
    if not actor.kominfo:
        query = query.where(User.id.in_(members.where(build_managed_clause(actor, OpdUnit.path))))
    if opd is not None:
        unit = await load_opd(session, opd)
        query = query.where(User.id.in_(members.where(OpdUnit.path.startswith(unit.path, autoescape=True))))
    if nik is not None:
        query = query.where(User.nik == nik)
    if q is not None:
        query = query.where(_search_clause(q, match, session.get_bind().dialect.name))
    if disabled is not None:
        query = query.where(User.disabled.is_(disabled))
    if page.after is not None:
        query = query.where(User.email > page.after)
    users = list((await session.scalars(query.offset(page.offset).limit(page.limit + 1))).all())
    ids = [user.id for user in users]
    roles = await _load_roles(session, ids)
    with_passkeys = (
        set((await session.scalars(select(Passkey.user_id).where(Passkey.user_id.in_(ids)).distinct())).all())
        if ids
        else set()
    )
    return [user_json(user, roles.get(user.id, []), user.id in with_passkeys) for user in users]


def _search_clause(q: str, match: str, dialect: str) -> ColumnElement[bool]:
    key, email = build_name_key(q), q.strip().lower()
    if match == "prefix":
        return or_(_starts_with(User.name_key, key, dialect), _starts_with(User.email, email, dialect))
    return or_(
        User.name_key.like("%" + _escape_like(key) + "%", escape="\\"),
        User.email.like("%" + _escape_like(email) + "%", escape="\\"),
        User.nik == q.strip(),
    )


def _starts_with(column: Any, prefix: str, dialect: str) -> ColumnElement[bool]:
    """A prefix match an index serves: PostgreSQL's ``LIKE 'x%'`` uses the varchar_pattern_ops indexes (0004);
    SQLite's LIKE ignores case and so its indexes, its GLOB is case-sensitive and uses them."""
    if dialect == "sqlite":
        return column.op("GLOB")(re.sub(r"([*?\[])", r"[\1]", prefix) + "*")
    return column.like(_escape_like(prefix) + "%", escape="\\")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def load_managed_user(session: AsyncSession, actor: Actor, user_id: str) -> tuple[User, list[tuple[str, str]]]:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"user '{user_id}' does not exist")
    rows = await session.execute(
        select(OpdUnit.path).join(Membership, Membership.opd_id == OpdUnit.id).where(Membership.user_id == user_id)
    )
    check_manages_user(actor, [path for (path,) in rows.all()], user_id)
    return user, (await _load_roles(session, [user_id])).get(user_id, [])


async def set_disabled(session: AsyncSession, actor: Actor, user_id: str, disabled: bool, now: int) -> dict[str, Any]:
    user, roles = await load_managed_user(session, actor, user_id)
    user.disabled, user.updated_at = disabled, now
    if disabled:
        await _end_everything(session, user_id, now)
    await append_audit(
        session,
        actor=actor.sub,
        action="user.disable" if disabled else "user.enable",
        target=f"user:{user_id}",
        detail={},
        now=now,
    )
    return user_json(user, roles)


async def end_sessions(session: AsyncSession, actor: Actor, user_id: str, now: int) -> dict[str, int]:
    await load_managed_user(session, actor, user_id)
    ended = await _end_everything(session, user_id, now)
    await append_audit(
        session, actor=actor.sub, action="user.end_sessions", target=f"user:{user_id}", detail=ended, now=now
    )
    return ended


async def reset_mfa(session: AsyncSession, actor: Actor, user_id: str, now: int) -> dict[str, Any]:
    """For a user who lost their phone or security key: every second factor goes, and every session ends.

    The TOTP secret (and any unconfirmed enrolment), every passkey, every recovery code and every login
    waiting for a second factor are removed; sessions and token families end as with ``end_sessions``, so
    whoever holds the lost device keeps nothing. The user signs in with their password and enrols again.
    """
    user, roles = await load_managed_user(session, actor, user_id)
    had_totp = user.totp_secret is not None
    user.totp_secret = user.totp_pending_secret = user.totp_last_step = None
    user.updated_at = now
    passkeys = await session.execute(delete(Passkey).where(Passkey.user_id == user_id))
    codes = await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    await session.execute(delete(LoginChallenge).where(LoginChallenge.user_id == user_id))
    session.add(build_event("mfa.changed", now, user_id=user_id, reason="mfa_reset", detail={"by": actor.sub}))
    ended = await _end_everything(session, user_id, now)
    removed = {"totp": had_totp, "passkeys": rows_affected(passkeys), "recovery_codes": rows_affected(codes)}
    await append_audit(
        session,
        actor=actor.sub,
        action="user.reset_mfa",
        target=f"user:{user_id}",
        detail={**removed, **ended},
        now=now,
    )
    return {**user_json(user, roles), "removed": removed, "ended": ended}


async def grant_role(session: AsyncSession, actor: Actor, user_id: str, body: RoleGrant, now: int) -> dict[str, Any]:
    unit = await _check_role_change(session, actor, user_id, body)
    found = await session.scalar(
        select(Membership.id).where(
            Membership.user_id == user_id, Membership.opd_id == unit.id, Membership.role == body.role
        )
    )
    if found is not None:
        raise Conflict(f"the user already has role '{body.role}' in '{unit.slug}'")
    session.add(Membership(user_id=user_id, opd_id=unit.id, role=body.role))
    await session.flush()
    await append_audit(
        session,
        actor=actor.sub,
        action="user.role_grant",
        target=f"user:{user_id}",
        detail={"opd": unit.slug, "role": body.role},
        now=now,
    )
    user, roles = await _load_any(session, user_id)
    return user_json(user, roles)


async def revoke_role(session: AsyncSession, actor: Actor, user_id: str, body: RoleGrant, now: int) -> dict[str, Any]:
    unit = await _check_role_change(session, actor, user_id, body)
    row = await session.scalar(
        select(Membership).where(
            Membership.user_id == user_id, Membership.opd_id == unit.id, Membership.role == body.role
        )
    )
    if row is None:
        raise NotFound(f"the user has no role '{body.role}' in '{unit.slug}'")
    await session.delete(row)
    await session.flush()
    await append_audit(
        session,
        actor=actor.sub,
        action="user.role_revoke",
        target=f"user:{user_id}",
        detail={"opd": unit.slug, "role": body.role},
        now=now,
    )
    user, roles = await _load_any(session, user_id)
    return user_json(user, roles)


async def _check_role_change(session: AsyncSession, actor: Actor, user_id: str, body: RoleGrant) -> OpdUnit:
    """The unit must be in the granter's subtree; the user must be theirs (or roleless, an ASN to onboard)."""
    if body.role == KOMINFO_ADMIN:
        check_kominfo(actor)
    unit = await load_opd(session, body.opd)
    check_manages(actor, unit.path)
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"user '{user_id}' does not exist")
    rows = await session.execute(
        select(OpdUnit.path).join(Membership, Membership.opd_id == OpdUnit.id).where(Membership.user_id == user_id)
    )
    paths = [path for (path,) in rows.all()]
    if paths or user_id == actor.sub:
        check_manages_user(actor, paths, user_id)
    elif not actor.kominfo and user.kind != "asn":
        raise Forbidden("only Kominfo may give a role to a citizen account")
    return unit


async def _load_any(session: AsyncSession, user_id: str) -> tuple[User, list[tuple[str, str]]]:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"user '{user_id}' does not exist")
    return user, (await _load_roles(session, [user_id])).get(user_id, [])


async def _load_roles(session: AsyncSession, user_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    if not user_ids:
        return {}
    rows = await session.execute(
        select(Membership.user_id, OpdUnit.slug, Membership.role)
        .join(OpdUnit, Membership.opd_id == OpdUnit.id)
        .where(Membership.user_id.in_(user_ids))
        .order_by(OpdUnit.path, Membership.role)
    )
    found: dict[str, list[tuple[str, str]]] = {}
    for user_id, slug, role in rows.all():
        found.setdefault(user_id, []).append((slug, role))
    return found


async def _end_everything(session: AsyncSession, user_id: str, now: int) -> dict[str, int]:
    """Browser and gateway sessions end; token families are revoked and their live access tokens denylisted."""
    browser = await session.execute(
        update(BrowserSession)
        .where(BrowserSession.user_id == user_id, BrowserSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.user_id == user_id, ConsoleSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    gateway = await session.execute(
        update(GatewaySession)
        .where(GatewaySession.user_id == user_id, GatewaySession.ended_at.is_(None))
        .values(ended_at=now)
    )
    live = select(Grant.id).where(Grant.user_id == user_id, Grant.revoked_at.is_(None))
    tokens = (
        await session.execute(
            select(AccessToken.jti, AccessToken.expires_at).where(
                AccessToken.grant_id.in_(live), AccessToken.expires_at > now
            )
        )
    ).all()
    known = (
        set(
            (
                await session.scalars(select(RevokedToken.jti).where(RevokedToken.jti.in_([jti for jti, _ in tokens])))
            ).all()
        )
        if tokens
        else set()
    )
    session.add_all(RevokedToken(jti=jti, expires_at=exp) for jti, exp in tokens if jti not in known)
    grants = await session.execute(
        update(Grant)
        .where(Grant.user_id == user_id, Grant.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason="admin_end_sessions")
    )
    await session.flush()
    return {
        "browser_sessions": rows_affected(browser),
        "gateway_sessions": rows_affected(gateway),
        "token_families": rows_affected(grants),
        "access_tokens": len(tokens),
    }
