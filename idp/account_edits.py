"""Changing an account's profile and roles (``gerbang users update``, ``gerbang apply``, ``gerbang users import``).

Each change is audited with a diff in the caller's transaction. The gateway's subject cache serves roles for up
to ``subject_cache_ttl`` seconds, so a role change reaches every instance within that time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.accounts import ROLE, normalise_email
from idp.audit import append_audit
from idp.change_diff import build_diff
from idp.errors import Conflict, InvalidInput, NotFound
from idp.nik import NikError, parse_nik
from idp.org import load_opd
from idp.storage.models import Membership, OpdUnit, User


async def load_user_by_key(session: AsyncSession, key: str) -> User:
    """A user named by id, email or NIK (the CLI's ``--user``)."""
    value = key.strip()
    user = await session.scalar(
        select(User).where(or_(User.id == value, User.email == value.lower(), User.nik == value))
    )
    if user is None:
        raise NotFound(f"user '{key}' does not exist")
    return user


async def role_pairs(session: AsyncSession, user_id: str) -> list[tuple[str, str]]:
    """(OPD slug, role) of every membership, sorted."""
    rows = await session.execute(
        select(OpdUnit.slug, Membership.role)
        .join(Membership, Membership.opd_id == OpdUnit.id)
        .where(Membership.user_id == user_id)
    )
    return sorted((slug, role) for slug, role in rows.all())


def _roles_text(pairs: list[tuple[str, str]]) -> list[str]:
    return [f"{role}@{slug}" for slug, role in pairs]


async def update_user(
    session: AsyncSession,
    user: User,
    *,
    name: str | None = None,
    email: str | None = None,
    nik: str | None = None,
    actor: str,
    now: int,
    private: bool = False,
) -> dict[str, Any]:
    """Change name, email or NIK (``nik=""`` removes it); returns the diff (empty: nothing changed).

    ``private``: the audit entry names the changed fields only (a citizen's correction under UU PDP: the hashed
    chain must not keep personal data that erasure could not remove)."""
    before = {"name": user.name, "email": user.email, "nik": user.nik}
    if name is not None:
        if not name.strip():
            raise InvalidInput("name is required")
        user.name = name.strip()
    if email is not None and normalise_email(email) != user.email:
        value = normalise_email(email)
        if await session.scalar(select(User.id).where(User.email == value)) is not None:
            raise Conflict("an account with this email already exists")
        user.email = value
    if nik is not None:
        user.nik = await _checked_nik(session, nik, user.id)
    diff = build_diff(before, {"name": user.name, "email": user.email, "nik": user.nik})
    if diff:
        user.updated_at = max(now, user.updated_at)
        await session.flush()
        detail = {"fields": sorted(diff)} if private else {"diff": diff}
        await append_audit(session, actor=actor, action="user.update", target=f"user:{user.id}", detail=detail, now=now)
    return diff


async def _checked_nik(session: AsyncSession, nik: str, user_id: str) -> str | None:
    if not nik:
        return None
    try:
        value = parse_nik(nik).value
    except NikError as exc:
        raise InvalidInput(str(exc)) from exc
    if await session.scalar(select(User.id).where(User.nik == value, User.id != user_id)) is not None:
        raise Conflict("an account with this NIK already exists")
    return value


async def set_roles(
    session: AsyncSession, user: User, wanted: list[tuple[str, str]], *, actor: str, now: int
) -> dict[str, Any]:
    """Make the user's memberships exactly ``wanted`` ((OPD slug, role) pairs); returns the diff."""
    for _, role in wanted:
        if not ROLE.match(role):
            raise InvalidInput(f"role '{role}' must be lowercase letters, digits and dashes")
    current = await role_pairs(session, user.id)
    target = sorted(set(wanted))
    if current == target:
        return {}
    units = {slug: await load_opd(session, slug) for slug in {slug for slug, _ in target}}
    rows = (
        await session.execute(
            select(Membership, OpdUnit.slug)
            .join(OpdUnit, Membership.opd_id == OpdUnit.id)
            .where(Membership.user_id == user.id)
        )
    ).all()
    for membership, slug in rows:
        if (slug, membership.role) not in target:
            await session.delete(membership)
    for slug, role in set(target) - set(current):
        session.add(Membership(user_id=user.id, opd_id=units[slug].id, role=role))
    if target and user.kind != "asn":
        user.kind = "asn"
    user.updated_at = max(now, user.updated_at)
    await session.flush()
    session.expire(user, ["memberships"])
    diff = build_diff({"roles": _roles_text(current)}, {"roles": _roles_text(target)})
    await append_audit(
        session, actor=actor, action="user.roles", target=f"user:{user.id}", detail={"diff": diff}, now=now
    )
    return diff
