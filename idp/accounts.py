"""User accounts: citizens (warga) and civil servants (ASN) with OPD memberships and roles."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import bindparam, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from idp.errors import Conflict, InvalidInput
from idp.nik import NikError, parse_nik
from idp.org import load_opd
from idp.passwords import MAX_LENGTH, MIN_LENGTH
from idp.storage.models import Membership, OpdUnit, User

EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
ROLE = re.compile(r"^[a-z][a-z0-9-]{0,63}$")


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    if not EMAIL.match(value):
        raise InvalidInput("email address is not valid")
    return value


def check_password_rules(password: str) -> None:
    """NIST SP 800-63B: length, no composition rules (the common-password list is checked at sign-up)."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"password must be at most {MAX_LENGTH} characters")


async def add_user(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    password_hash: str | None,
    now: int,
    nik: str | None = None,
    opd_slug: str | None = None,
    roles: tuple[str, ...] = (),
    email_verified: bool = True,
) -> User:
    email = normalise_email(email)
    if not name.strip():
        raise InvalidInput("name is required")
    if nik:
        try:
            nik = parse_nik(nik).value
        except NikError as exc:
            raise InvalidInput(str(exc)) from exc
    for role in roles:
        if not ROLE.match(role):
            raise InvalidInput(f"role '{role}' must be lowercase letters, digits and dashes")
    if roles and not opd_slug:
        raise InvalidInput("roles need an OPD (--opd)")
    clash = await session.scalar(select(User.id).where(or_(User.email == email, (User.nik == nik) if nik else false())))
    if clash is not None:
        raise Conflict("an account with this email or NIK already exists")
    user = User(
        id=str(uuid.uuid4()),
        email=email,
        name=name.strip(),
        nik=nik,
        password_hash=password_hash,
        kind="asn" if opd_slug else "citizen",
        email_verified=email_verified,
        created_at=now,
        updated_at=now,
        password_changed_at=now,
    )
    session.add(user)
    if opd_slug:
        unit = await load_opd(session, opd_slug)
        for role in roles or ("asn",):
            session.add(Membership(user_id=user.id, opd_id=unit.id, role=role))
    await session.flush()
    return user


async def load_user_by_login(session: AsyncSession, login: str, *, with_memberships: bool = True) -> User | None:
    """The login name is an email address or a 16-digit NIK. ``with_memberships=False``: the password form's
    read, which releases no roles (the authorization reads them again with the session): no second query."""
    value = login.strip()
    by_nik = value.isdigit() and len(value) == 16
    query = _BY_LOGIN[by_nik, with_memberships]
    return await session.scalar(query, {"login__value": value if by_nik else value.lower()})


# The sign-in's read, built once (the request passes only the value): (by NIK, with memberships) → statement.
_BY_LOGIN = {
    (by_nik, with_memberships): (
        select(User).where((User.nik if by_nik else User.email) == bindparam("login__value"))
        if with_memberships
        else select(User)
        .where((User.nik if by_nik else User.email) == bindparam("login__value"))
        .options(raiseload(User.memberships))
    )
    for by_nik in (True, False)
    for with_memberships in (True, False)
}


async def load_user_by_email(session: AsyncSession, email: str) -> User | None:
    """``email`` as ``normalise_email`` left it."""
    return await session.scalar(select(User).where(User.email == email))


async def is_email_taken(session: AsyncSession, email: str) -> bool:
    return await session.scalar(select(User.id).where(User.email == email)) is not None


async def load_user_id_matching(session: AsyncSession, person: str) -> str | None:
    """The id of an account whose email (case-folded), NIK or id is ``person`` (a search box's entry)."""
    return await session.scalar(
        select(User.id).where(or_(User.email == person.lower(), User.nik == person, User.id == person))
    )


async def load_roles(session: AsyncSession, user_id: str) -> list[tuple[str, str, str]]:
    """(role, unit slug, unit path) of each of the user's memberships."""
    query = (
        select(Membership.role, OpdUnit.slug, OpdUnit.path)
        .join(OpdUnit, Membership.opd_id == OpdUnit.id)
        .where(Membership.user_id == user_id)
    )
    return [(role, slug, path) for role, slug, path in (await session.execute(query)).all()]


async def has_role_in(session: AsyncSession, user_id: str, role: str, unit_slug: str) -> bool:
    """Does the user hold ``role`` in the unit ``unit_slug`` itself (not one above it)?"""
    query = (
        select(Membership.id)
        .join(OpdUnit, Membership.opd_id == OpdUnit.id)
        .where(Membership.user_id == user_id, Membership.role == role, OpdUnit.slug == unit_slug)
        .limit(1)
    )
    return await session.scalar(query) is not None


async def is_user(session: AsyncSession, user_id: str) -> bool:
    return await session.scalar(select(User.id).where(User.id == user_id)) is not None


async def load_user(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def load_user_for_update(session: AsyncSession, user_id: str) -> User | None:
    """The account, locked until the transaction ends (a credential or address change reads, checks, writes)."""
    return await session.get(User, user_id, with_for_update=True)


async def list_users(session: AsyncSession, search: str | None = None, limit: int = 100, offset: int = 0) -> list[User]:
    query = select(User).order_by(User.email).limit(limit).offset(offset)
    if search:
        like = f"%{search.lower()}%"
        query = query.where(or_(User.email.like(like), func.lower(User.name).like(like), User.nik == search))
    return list((await session.scalars(query)).all())
