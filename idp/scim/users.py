"""SCIM Users (RFC 7643 §4.1, enterprise extension §4.3) over the hub's accounts.

``userName`` and the primary email are the account's email; ``name.formatted`` / ``displayName`` its name;
``active`` its enabled state; the enterprise ``employeeNumber`` is the NIP and ``department`` (or
``organization``) the OPD unit (slug) the ASN works in. A client sees and changes only people whose every
unit lies in its subtree; a person it creates starts in the given unit (or the client's own).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from scim2_models import Context, Email, EnterpriseUser, GroupMembership, Meta, Name, ResponseParameters
from scim2_models import User as ScimUser
from sqlalchemy import and_, exists, not_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from idp.accounts import EMAIL
from idp.scim.auth import ScimCaller
from idp.scim.filters import Attribute, compare_column
from idp.scim.responses import ScimError
from idp.storage.models import Membership, OpdUnit, User

UserModel = ScimUser[EnterpriseUser]
NIP = re.compile(r"^\d{18}$")


@dataclass(frozen=True)
class UserInput:
    email: str
    name: str
    active: bool
    nip: str | None
    unit: str | None  # OPD slug; None = keep (or, on create, the client's own unit)


def in_subtree(subtree: str) -> ColumnElement[bool]:
    """Every unit of the person lies in ``subtree``, and there is at least one."""
    member = select(Membership.id).join(OpdUnit, OpdUnit.id == Membership.opd_id).where(Membership.user_id == User.id)
    return and_(exists(member.where(OpdUnit.path.startswith(subtree))),
                not_(exists(member.where(not_(OpdUnit.path.startswith(subtree))))))


def _unit_compare(op: str, value: str | None) -> ColumnElement[bool]:
    unit = select(Membership.id).join(OpdUnit, OpdUnit.id == Membership.opd_id).where(Membership.user_id == User.id)
    return exists(unit.where(compare_column(OpdUnit.slug, "string", op, value)))


ATTRIBUTES: dict[str, Attribute] = {
    "id": Attribute(User.id, "exact"), "username": Attribute(User.email), "emails": Attribute(User.email),
    "emails.value": Attribute(User.email), "displayname": Attribute(User.name), "name.formatted": Attribute(User.name),
    "active": Attribute(compare=lambda op, value: compare_column(not_(User.disabled), "boolean", op, value)),
    "employeenumber": Attribute(User.nip, "exact"), "department": Attribute(compare=_unit_compare),
    "organization": Attribute(compare=_unit_compare), "meta.lastmodified": Attribute(User.updated_at, "exact"),
}
SORTABLE = {"username": User.email, "emails.value": User.email, "displayname": User.name,
            "name.formatted": User.name, "id": User.id, "meta.lastmodified": User.updated_at,
            "meta.created": User.created_at, "employeenumber": User.nip}


def _when(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def build_resource(user: User, base: str) -> UserModel:
    units = sorted({m.opd.slug for m in user.memberships})
    model = UserModel(id=user.id, user_name=user.email, name=Name(formatted=user.name), display_name=user.name,
                      active=not user.disabled, emails=[Email(value=user.email, primary=True, type="work")],
                      groups=[GroupMembership(value=f"{m.opd.slug}:{m.role}", display=f"{m.opd.slug}/{m.role}")
                              for m in sorted(user.memberships, key=lambda m: (m.opd.slug, m.role))
                              if m.role != "asn"] or None)
    model[EnterpriseUser] = EnterpriseUser(employee_number=user.nip, department=units[0] if units else None,
                                           organization=units[0] if units else None)
    body = model.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    version = 'W/"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20] + '"'
    model.meta = Meta(resource_type="User", created=_when(user.created_at), last_modified=_when(user.updated_at),
                      location=f"{base}/Users/{user.id}", version=version)
    return model


def dump(model: UserModel, attributes: list[str] | None = None, excluded: list[str] | None = None) -> dict[str, Any]:
    params = ResponseParameters(attributes=attributes, excluded_attributes=excluded) if (attributes or excluded) \
        else None
    return model.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=params)


def read_input(body: Any, context: Context) -> UserInput:
    """A POST/PUT body (or a patched resource) → what the account will hold; ``invalidValue`` otherwise."""
    try:
        model = UserModel.model_validate(body, scim_ctx=context)
    except (ValidationError, ValueError, TypeError) as exc:
        raise ScimError(400, f"the user is not valid: {str(exc).splitlines()[0][:200]}", "invalidValue") from exc
    return input_of(model)


def input_of(model: UserModel, previous_name: str | None = None) -> UserInput:
    """``previous_name``: after a PATCH, whichever of name.formatted and displayName changed wins."""
    email = (model.user_name or "").strip().lower()
    if not EMAIL.match(email):
        raise ScimError(400, "userName must be the person's email address", "invalidValue")
    formatted = model.name.formatted if model.name else None
    candidates = [formatted, model.display_name]
    if previous_name is not None and formatted == previous_name:
        candidates.reverse()
    name = " ".join(next((c for c in candidates if c), "").split())
    if not name or len(name) > 200:
        raise ScimError(400, "name.formatted or displayName is required (≤ 200 characters)", "invalidValue")
    enterprise = model[EnterpriseUser]
    nip = enterprise.employee_number if enterprise else None
    if nip is not None and not NIP.match(nip):
        raise ScimError(400, "employeeNumber must be an 18-digit NIP", "invalidValue")
    unit = (enterprise.department or enterprise.organization) if enterprise else None
    return UserInput(email, name, model.active is not False, nip, unit)


async def load_visible(session: AsyncSession, caller: ScimCaller, user_id: str) -> User:
    user = await session.scalar(select(User).where(User.id == user_id[:36], in_subtree(caller.subtree)))
    if user is None:
        raise ScimError(404, f"no user {user_id[:36]} here")
    return user


async def load_unit(session: AsyncSession, caller: ScimCaller, slug: str | None) -> OpdUnit:
    unit = await session.scalar(select(OpdUnit).where(OpdUnit.slug == (slug or caller.unit_slug)))
    if unit is None or not unit.path.startswith(caller.subtree):
        raise ScimError(400, f"department '{slug}' is not an OPD unit of this client's subtree", "invalidValue")
    return unit


async def check_unique(session: AsyncSession, data: UserInput, user_id: str | None) -> None:
    for column, value in ((User.email, data.email), (User.nip, data.nip)):
        if value is None:
            continue
        holder = await session.scalar(select(User.id).where(column == value))
        if holder is not None and holder != user_id:
            raise ScimError(409, "a user with this userName or employeeNumber exists", "uniqueness")


def check_version(model: UserModel, if_match: str | None) -> None:
    """RFC 7644 §3.14: a write with ``If-Match`` applies only to the version it names."""
    if if_match and if_match.strip() != "*" and model.meta and model.meta.version not in \
            [v.strip() for v in if_match.split(",")]:
        raise ScimError(412, "the resource changed since that version", "invalidVers")
