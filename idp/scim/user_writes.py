"""Writing a SCIM User: create, replace (PUT and PATCH end here), delete — each audited with the provisioning
client as actor, in one transaction with what it revokes. ``Effects`` says what must end after the commit."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from idp.accounts import add_user
from idp.audit import append_audit
from idp.errors import Conflict, GerbangError
from idp.scim.auth import ScimCaller
from idp.scim.deprovision import revoke_in_transaction
from idp.scim.responses import ScimError
from idp.scim.users import UserInput, check_unique, load_unit
from idp.storage.models import Membership, ScimAccount, User


@dataclass(frozen=True)
class Effects:
    """``end_sessions``: the person left (active=false, deleted) or moved to another unit."""

    user_id: str
    end_sessions: bool


async def create_user(session: AsyncSession, caller: ScimCaller, data: UserInput, now: int) -> Effects:
    await check_unique(session, data, None)
    unit = await load_unit(session, caller, data.unit)
    try:
        user = await add_user(
            session,
            email=data.email,
            name=data.name,
            password_hash=None,
            now=now,
            opd_slug=unit.slug,
            roles=("asn",),
            email_verified=True,
        )
    except Conflict as exc:
        raise ScimError(409, exc.message, "uniqueness") from exc
    except GerbangError as exc:
        raise ScimError(400, exc.message, "invalidValue") from exc
    user.nip, user.disabled, user.kind = data.nip, not data.active, "asn"
    session.add(
        ScimAccount(user_id=user.id, user_name=data.user_name, attributes=data.attributes, client_id=caller.client_id)
    )
    await append_audit(
        session,
        actor=caller.actor,
        action="scim.user.create",
        target=f"user:{user.id}",
        detail={"unit": unit.slug, "active": data.active, "nip": data.nip is not None},
        now=now,
    )
    return Effects(user.id, False)


async def replace_user(
    session: AsyncSession,
    caller: ScimCaller,
    user: User,
    account: ScimAccount | None,
    data: UserInput,
    now: int,
    how: str,
) -> Effects:
    await check_unique(session, data, user.id)
    units = {m.opd.slug for m in user.memberships}
    home = {m.opd.slug for m in user.memberships if m.role == "asn"} or units  # a group role is not a unit
    moved = data.unit is not None and home != {data.unit}
    deactivated = not data.active and not user.disabled
    changed = {
        name
        for name, old, new in (
            ("email", user.email, data.email),
            ("name", user.name, data.name),
            ("nip", user.nip, data.nip),
            ("active", not user.disabled, data.active),
        )
        if old != new
    }
    if moved:
        unit = await load_unit(session, caller, data.unit)
        await session.execute(delete(Membership).where(Membership.user_id == user.id))
        session.add(Membership(user_id=user.id, opd_id=unit.id, role="asn"))
        changed.add("unit")
    user.email, user.name, user.nip, user.disabled = data.email, data.name, data.nip, not data.active
    if account is None:
        session.add(
            ScimAccount(
                user_id=user.id, user_name=data.user_name, attributes=data.attributes, client_id=caller.client_id
            )
        )
    else:
        account.user_name, account.attributes = data.user_name, data.attributes
    user.updated_at = now
    if deactivated or moved:
        await revoke_in_transaction(session, user.id, now, "scim_deprovisioned" if deactivated else "scim_moved")
    await append_audit(
        session,
        actor=caller.actor,
        action=f"scim.user.{how}",
        target=f"user:{user.id}",
        detail={"changed": sorted(changed), "from_units": sorted(units), "to_unit": data.unit if moved else None},
        now=now,
    )
    return Effects(user.id, deactivated or moved)


async def delete_user(session: AsyncSession, caller: ScimCaller, user: User, now: int) -> None:
    """The account goes; its token families are revoked first so issued access tokens stay refused."""
    await revoke_in_transaction(session, user.id, now, "scim_deleted")
    await append_audit(
        session,
        actor=caller.actor,
        action="scim.user.delete",
        target=f"user:{user.id}",
        detail={"units": sorted({m.opd.slug for m in user.memberships})},
        now=now,
    )
    await session.execute(delete(User).where(User.id == user.id))  # memberships, sessions: ON DELETE CASCADE
