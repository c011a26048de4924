"""What a verified upstream identity becomes.

    already linked                     → sign in as that account
    no account matches                 → a new account from the verified claims, after confirmation
    a verified identifier matches      → link after the person proves the local account (password once),
                                         or at once when Kominfo made the upstream authoritative for NIK/NIP
    only an unverified email matches   → refused: never link (or take over an address) on an unverified email

Identifiers: ``nik`` (INApas, from Dukcapil) and ``nip`` (SSO ASN, from BKN) are asserted by the upstream
itself; an email counts only with ``email_verified`` exactly ``true``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from idp.accounts import EMAIL, add_user
from idp.audit import append_audit
from idp.nik import NikError, parse_nik
from idp.storage.models import FederatedIdentity, UpstreamIdp, User

NIP = re.compile(r"^\d{18}$")


@dataclass(frozen=True)
class VerifiedIdentifiers:
    nik: str | None
    nip: str | None
    email: str | None  # verified only
    unverified_email: str | None


@dataclass(frozen=True)
class Resolution:
    """``kind``: signin | create | link | refuse; ``user`` for signin/link; ``reason`` for refuse."""

    kind: str
    user: User | None = None
    authoritative: bool = False
    reason: str | None = None


def read_identifiers(claims: dict[str, Any]) -> VerifiedIdentifiers:
    nik = claims.get("nik")
    try:
        nik = parse_nik(nik).value if isinstance(nik, str) else None
    except NikError:
        nik = None
    nip = claims.get("nip") if isinstance(claims.get("nip"), str) and NIP.match(claims["nip"]) else None
    email = claims.get("email")
    email = email.strip().lower() if isinstance(email, str) and EMAIL.match(email.strip().lower()) else None
    verified = claims.get("email_verified") is True
    return VerifiedIdentifiers(nik, nip, email if verified else None, None if verified else email)


def local_acr(row: UpstreamIdp, claims: dict[str, Any]) -> str:
    """The hub's level for the upstream's ``acr`` (``--acr-map``); unmapped or absent is level 1."""
    acr = claims.get("acr")
    return str(row.acr_map.get(acr, "1")) if isinstance(acr, str) else "1"


def federated_amr(claims: dict[str, Any]) -> list[str]:
    """``fed`` (RFC 8176) first, then the upstream's own methods."""
    amr = claims.get("amr")
    upstream = amr if isinstance(amr, list) else []
    methods = [m for m in upstream if isinstance(m, str) and 0 < len(m) <= 32][:8]
    return ["fed", *dict.fromkeys(m for m in methods if m != "fed")]


def is_kind_allowed(row: UpstreamIdp, user: User) -> bool:
    return row.audience == "all" or (row.audience == "asn") == (user.kind == "asn")


async def resolve(session: AsyncSession, row: UpstreamIdp, claims: dict[str, Any]) -> Resolution:
    linked = await session.scalar(
        select(User)
        .join(FederatedIdentity, FederatedIdentity.user_id == User.id)
        .where(FederatedIdentity.idp_slug == row.slug, FederatedIdentity.subject == claims["sub"])
    )
    if linked is not None:
        if linked.disabled or not is_kind_allowed(row, linked):
            return Resolution("refuse", reason="broker.refused_account")
        return Resolution("signin", linked)
    ids = read_identifiers(claims)
    by_link_key = await _match(session, row.link_by, ids)
    by_email = await session.scalar(select(User).where(User.email == ids.email)) if ids.email else None
    candidate = by_link_key or (by_email if row.link_by != "none" else None)
    if candidate is not None:
        if candidate.disabled or not is_kind_allowed(row, candidate):
            return Resolution("refuse", reason="broker.refused_account")
        if await _has_identity(session, row.slug, candidate.id):
            return Resolution("refuse", reason="broker.other_identity")
        authoritative = row.authoritative and by_link_key is not None and row.link_by in ("nik", "nip")
        return Resolution("link", candidate, authoritative=authoritative)
    if await _is_taken(session, ids):
        return Resolution("refuse", reason="broker.taken")
    if not (ids.email or ids.unverified_email):
        return Resolution("refuse", reason="broker.no_email")
    return Resolution("create")


async def _match(session: AsyncSession, link_by: str, ids: VerifiedIdentifiers) -> User | None:
    value = {"nik": ids.nik, "nip": ids.nip, "email": ids.email}.get(link_by)
    if value is None:
        return None
    column = {"nik": User.nik, "nip": User.nip, "email": User.email}[link_by]
    return await session.scalar(select(User).where(column == value))


async def _has_identity(session: AsyncSession, slug: str, user_id: str) -> bool:
    found = await session.scalar(
        select(FederatedIdentity.id).where(FederatedIdentity.idp_slug == slug, FederatedIdentity.user_id == user_id)
    )
    return found is not None


async def _is_taken(session: AsyncSession, ids: VerifiedIdentifiers) -> bool:
    """Any identifier the new account would hold already belongs to someone (an unverified email included:
    such a match is refused, not linked)."""
    email = ids.email or ids.unverified_email
    checks = [User.email == email] if email else []
    checks += [User.nik == ids.nik] if ids.nik else []
    checks += [User.nip == ids.nip] if ids.nip else []
    for check in checks:
        if await session.scalar(select(User.id).where(check)) is not None:
            return True
    return False


def proposed_account(row: UpstreamIdp, claims: dict[str, Any]) -> dict[str, Any]:
    """What the confirmation page shows and ``create_account`` stores."""
    ids = read_identifiers(claims)
    name = claims.get("name") if isinstance(claims.get("name"), str) else None
    name = " ".join((name or "").split())[:200] or (ids.email or ids.unverified_email or "").split("@")[0]
    return {
        "name": name,
        "email": ids.email or ids.unverified_email,
        "email_verified": ids.email is not None,
        "nik": ids.nik,
        "nip": ids.nip,
        "kind": "asn" if row.audience == "asn" or ids.nip else "citizen",
    }


async def create_account(session: AsyncSession, row: UpstreamIdp, claims: dict[str, Any], now: int) -> User:
    """The account and its link in the caller's transaction (both or neither), audited."""
    proposed = proposed_account(row, claims)
    user = await add_user(
        session,
        email=proposed["email"],
        name=proposed["name"],
        password_hash=None,
        now=now,
        nik=proposed["nik"],
        email_verified=proposed["email_verified"],
    )
    user.nip, user.kind = proposed["nip"], proposed["kind"]
    await link_identity(session, row, claims["sub"], user, now, how="created")
    return user


async def link_identity(
    session: AsyncSession, row: UpstreamIdp, subject: str, user: User, now: int, *, how: str
) -> FederatedIdentity:
    identity = FederatedIdentity(idp_slug=row.slug, subject=subject, user_id=user.id, created_at=now, last_login_at=now)
    session.add(identity)
    await session.flush()
    await append_audit(
        session,
        actor=f"user:{user.id}",
        action="identity.link",
        target=f"user:{user.id}",
        detail={"idp": row.slug, "how": how},
        now=now,
    )
    return identity


async def record_identity_login(session: AsyncSession, slug: str, subject: str, now: int) -> None:
    """The identity's last sign-in through its upstream (shown on the account page)."""
    await session.execute(
        update(FederatedIdentity)
        .where(FederatedIdentity.idp_slug == slug, FederatedIdentity.subject == subject)
        .values(last_login_at=now)
    )


async def list_identities(session: AsyncSession, user_id: str) -> list[tuple[FederatedIdentity, str]]:
    """The user's linked identities with each upstream's display name."""
    rows = await session.execute(
        select(FederatedIdentity, UpstreamIdp.name)
        .join(UpstreamIdp, UpstreamIdp.slug == FederatedIdentity.idp_slug)
        .where(FederatedIdentity.user_id == user_id)
        .order_by(FederatedIdentity.created_at)
    )
    return [(identity, name) for identity, name in rows.all()]


async def load_linked_idp_names(session: AsyncSession, user_ids: list[str]) -> dict[str, list[str]]:
    """For a page of users (the console's list): the upstreams each is linked through."""
    if not user_ids:
        return {}
    rows = await session.execute(
        select(FederatedIdentity.user_id, UpstreamIdp.name)
        .join(UpstreamIdp, UpstreamIdp.slug == FederatedIdentity.idp_slug)
        .where(FederatedIdentity.user_id.in_(user_ids))
        .order_by(UpstreamIdp.name)
    )
    linked: dict[str, list[str]] = {}
    for user_id, name in rows.all():
        linked.setdefault(user_id, []).append(name)
    return linked


async def unlink_identity(session: AsyncSession, user_id: str, identity_id: int, *, actor: str, now: int) -> bool:
    identity = await session.scalar(
        select(FederatedIdentity).where(FederatedIdentity.id == identity_id, FederatedIdentity.user_id == user_id)
    )
    if identity is None:
        return False
    await session.delete(identity)
    await append_audit(
        session,
        actor=actor,
        action="identity.unlink",
        target=f"user:{user_id}",
        detail={"idp": identity.idp_slug},
        now=now,
    )
    return True
