"""SCIM Groups (RFC 7643 §4.2) as one OPD unit's role: the group ``dinkes/perawat`` (id ``dinkes:perawat``) holds
the people with the role ``perawat`` in the unit ``dinkes``. A group exists while it has members. Kominfo's
administrative roles are granted in the console, never by provisioning."""

from __future__ import annotations

import hashlib
import json
import re

from scim2_models import Context, Group, GroupMember, Meta
from sqlalchemy import and_, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.accounts import ROLE
from idp.audit import append_audit
from idp.scim.auth import ScimCaller
from idp.scim.deprovision import revoke_in_transaction
from idp.scim.responses import ScimError
from idp.scim.users import in_subtree, load_unit
from idp.storage.models import Membership, OpdUnit, User

RESERVED_ROLES = ("asn", "kominfo-admin", "opd-admin", "operator")
NAME = re.compile(r"^([a-z0-9][a-z0-9-]{0,63})[/:]([a-z][a-z0-9-]{0,63})$")


def parse_group_name(value: str) -> tuple[str, str]:
    match = NAME.match(value or "")
    if match is None or not ROLE.match(match.group(2)) or match.group(2) in RESERVED_ROLES:
        raise ScimError(
            400,
            "a group is named UNIT/ROLE (e.g. dinkes/perawat); administrative roles are granted by Kominfo",
            "invalidValue",
        )
    return match.group(1), match.group(2)


async def load_members(session: AsyncSession, caller: ScimCaller, slug: str, role: str) -> list[User]:
    return list(
        (
            await session.scalars(
                select(User)
                .join(Membership, Membership.user_id == User.id)
                .join(OpdUnit, OpdUnit.id == Membership.opd_id)
                .where(OpdUnit.slug == slug, Membership.role == role, OpdUnit.path.startswith(caller.subtree))
                .order_by(User.email)
            )
        ).all()
    )


async def list_group_keys(session: AsyncSession, caller: ScimCaller) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(OpdUnit.slug, Membership.role)
        .join(Membership, Membership.opd_id == OpdUnit.id)
        .where(OpdUnit.path.startswith(caller.subtree), Membership.role.not_in(RESERVED_ROLES))
        .distinct()
        .order_by(OpdUnit.slug, Membership.role)
    )
    return [(slug, role) for slug, role in rows.all()]


def build_group(slug: str, role: str, members: list[User], base: str) -> Group:
    group = Group(
        id=f"{slug}:{role}",
        display_name=f"{slug}/{role}",
        members=[GroupMember(value=m.id, display=m.name) for m in members] or None,
    )
    body = group.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    version = 'W/"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20] + '"'
    group.meta = Meta(resource_type="Group", location=f"{base}/Groups/{slug}:{role}", version=version)
    return group


async def set_members(
    session: AsyncSession, caller: ScimCaller, slug: str, role: str, wanted: set[str], now: int, how: str
) -> set[str]:
    """Make the group hold exactly ``wanted`` (user ids the caller sees); the removed lose the role at once."""
    unit = await load_unit(session, caller, slug)
    if wanted:
        visible = set(
            (await session.scalars(select(User.id).where(User.id.in_(wanted), in_subtree(caller.subtree)))).all()
        )
        if visible != wanted:
            raise ScimError(400, "a member is not a user of this client's subtree", "invalidValue")
    current = set(
        (
            await session.scalars(
                select(Membership.user_id).where(Membership.opd_id == unit.id, Membership.role == role)
            )
        ).all()
    )
    removed, added = current - wanted, wanted - current
    if removed:
        await session.execute(
            delete(Membership).where(
                and_(Membership.opd_id == unit.id, Membership.role == role, Membership.user_id.in_(removed))
            )
        )
    for user_id in sorted(added):
        session.add(Membership(user_id=user_id, opd_id=unit.id, role=role))
    for user_id in removed:
        await revoke_in_transaction(session, user_id, now, "scim_role_removed")
    if added or removed or how == "delete":
        await append_audit(
            session,
            actor=caller.actor,
            action=f"scim.group.{how}",
            target=f"group:{slug}/{role}",
            detail={"added": sorted(added), "removed": sorted(removed)},
            now=now,
        )
    return removed
