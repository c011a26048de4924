"""SCIM Users (RFC 7643 §4.1, enterprise extension §4.3) over the hub's accounts.

The account's email is the primary email (or ``userName`` when that is an address); its name is
``name.formatted`` (else ``displayName``); ``active`` is its enabled state. The enterprise ``employeeNumber`` is
the NIP (other staff numbers are kept as given) and ``department`` the OPD unit (slug) the ASN works in.
``userName`` and the core attributes without a column (``ScimAccount``) are kept as the provisioning system
sent them. A client sees and changes only people whose every unit lies in its subtree; a person it creates
starts in the given unit (or the client's own).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from scim2_models import Context, EnterpriseUser, Meta, ResponseParameters
from scim2_models import User as ScimUser
from sqlalchemy import and_, exists, func, not_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from idp.accounts import EMAIL
from idp.scim.auth import ScimCaller
from idp.scim.filters import Attribute, compare_column
from idp.scim.responses import ScimError
from idp.storage.models import Membership, OpdUnit, ScimAccount, User

UserModel = ScimUser[EnterpriseUser]
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
EXTENSION = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
NIP = re.compile(r"^\d{18}$")
PLACEHOLDER_DOMAIN = "scim.invalid"


KEPT = ("name", "displayName", "emails", "externalId")  # core attributes kept as given (``ScimAccount``)


@dataclass(frozen=True)
class UserInput:
    user_name: str
    email: str
    name: str
    active: bool
    nip: str | None
    unit: str | None  # OPD slug; None = keep (or, on create, the client's own unit)
    attributes: dict[str, Any]


def in_subtree(subtree: str) -> ColumnElement[bool]:
    """Every unit of the person lies in ``subtree``, and there is at least one."""
    member = select(Membership.id).join(OpdUnit, OpdUnit.id == Membership.opd_id).where(Membership.user_id == User.id)
    return and_(
        exists(member.where(OpdUnit.path.startswith(subtree))),
        not_(exists(member.where(not_(OpdUnit.path.startswith(subtree))))),
    )


def _unit_compare(op: str, value: str | None) -> ColumnElement[bool]:
    unit = select(Membership.id).join(OpdUnit, OpdUnit.id == Membership.opd_id).where(Membership.user_id == User.id)
    return exists(unit.where(compare_column(OpdUnit.slug, "string", op, value)))


ATTRIBUTES: dict[str, Attribute] = {
    "id": Attribute(User.id, "exact"),
    "username": Attribute(func.coalesce(ScimAccount.user_name, User.email)),
    "emails": Attribute(User.email),
    "emails.value": Attribute(User.email),
    "displayname": Attribute(User.name),
    "name.formatted": Attribute(User.name),
    "active": Attribute(compare=lambda op, value: compare_column(not_(User.disabled), "boolean", op, value)),
    "employeenumber": Attribute(User.nip, "exact"),
    "department": Attribute(compare=_unit_compare),
}
SORTABLE = {
    "username": func.coalesce(ScimAccount.user_name, User.email),
    "emails.value": User.email,
    "displayname": User.name,
    "name.formatted": User.name,
    "id": User.id,
    "meta.lastmodified": User.updated_at,
    "meta.created": User.created_at,
    "employeenumber": User.nip,
}


def _when(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def build_resource(user: User, account: ScimAccount | None, base: str) -> UserModel:
    """The account as SCIM: kept attributes as given (else derived from the account), then what the account
    decides: ``active``, the primary email, ``groups`` (roles), the enterprise NIP and unit."""
    if account is not None:
        body: dict[str, Any] = {k: v for k, v in account.attributes.items() if k in KEPT}
        body = json.loads(json.dumps(body))  # a copy: the primary email below must not edit the stored row
        user_name = account.user_name
    else:
        body = {
            "name": {"formatted": user.name},
            "displayName": user.name,
            "emails": [{"value": user.email, "primary": True, "type": "work"}],
        }
        user_name = user.email
    emails = body.get("emails") or (
        [] if user.email.endswith("@" + PLACEHOLDER_DOMAIN) else [{"value": user.email, "primary": True}]
    )
    if emails:
        next((e for e in emails if e.get("primary")), emails[0])["value"] = user.email
    units = sorted({m.opd.slug for m in user.memberships})
    # The unit the person works in is where SCIM placed them (role "asn"); a group role elsewhere is not a move.
    home = sorted({m.opd.slug for m in user.memberships if m.role == "asn"}) or units
    roles = [
        {"value": f"{m.opd.slug}:{m.role}", "display": f"{m.opd.slug}/{m.role}"}
        for m in sorted(user.memberships, key=lambda m: (m.opd.slug, m.role))
        if m.role != "asn"
    ]
    body.update(schemas=[CORE, EXTENSION], id=user.id, userName=user_name, active=not user.disabled)
    if emails:
        body["emails"] = emails
    if roles:
        body["groups"] = roles
    model = UserModel.model_validate(body)
    number = user.nip or (account.attributes.get("employeeNumber") if account is not None else None)
    organization = account.attributes.get("organization") if account is not None else None
    model[EnterpriseUser] = EnterpriseUser(
        employee_number=number, department=home[0] if home else None, organization=organization
    )
    dumped = model.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    version = 'W/"' + hashlib.sha256(json.dumps(dumped, sort_keys=True).encode()).hexdigest()[:20] + '"'
    model.meta = Meta(
        resource_type="User",
        created=_when(user.created_at),
        last_modified=_when(user.updated_at),
        location=f"{base}/Users/{user.id}",
        version=version,
    )
    return model


def dump(model: UserModel, attributes: list[str] | None = None, excluded: list[str] | None = None) -> dict[str, Any]:
    params: ResponseParameters | None = (
        ResponseParameters(attributes=attributes, excluded_attributes=excluded) if (attributes or excluded) else None
    )
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
    user_name = (model.user_name or "").strip()
    if not 0 < len(user_name) <= 255:
        raise ScimError(400, "userName is required (≤ 255 characters)", "invalidValue")
    emails = [e for e in model.emails or [] if e.value]
    primary = next((e for e in emails if e.primary), emails[0] if emails else None)
    email = str(primary.value if primary else user_name).strip().lower()
    if primary is not None and not EMAIL.match(email):
        raise ScimError(400, "emails: the primary email address is not valid", "invalidValue")
    if not EMAIL.match(email):  # no address known: an unroutable placeholder (RFC 2606 .invalid), never shown
        email = f"{hashlib.sha256(user_name.encode()).hexdigest()[:32]}@{PLACEHOLDER_DOMAIN}"
    formatted = model.name.formatted if model.name else None
    given = " ".join(p for p in ((model.name.given_name, model.name.family_name) if model.name else ()) if p)
    candidates = [formatted, model.display_name, given, user_name]
    if previous_name is not None and formatted == previous_name:
        candidates[0], candidates[1] = candidates[1], candidates[0]
    name = " ".join(next((c for c in candidates if c), "").split())[:200]
    enterprise = model[EnterpriseUser]
    number = enterprise.employee_number if enterprise else None
    if number is not None and not 0 < len(number) <= 64:
        raise ScimError(400, "employeeNumber: 1-64 characters", "invalidValue")
    nip = number if number and NIP.match(number) else None  # staff without a NIP (PPPK, honorer) keep theirs as given
    unit = enterprise.department if enterprise else None
    dumped = model.model_dump(scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    attributes = {k: dumped[k] for k in KEPT if dumped.get(k) not in (None, [], {})}
    if number and not nip:
        attributes["employeeNumber"] = number
    if enterprise and enterprise.organization:
        attributes["organization"] = enterprise.organization[:200]
    return UserInput(user_name, email, name, model.active is not False, nip, unit, attributes)


async def load_written(session: AsyncSession, user_id: str) -> tuple[User, ScimAccount | None]:
    """The user just written, read afresh (not the identity map's copy), with its SCIM account."""
    user = await session.get(User, user_id, populate_existing=True)
    assert user is not None
    return user, await session.get(ScimAccount, user_id)


async def load_visible(session: AsyncSession, caller: ScimCaller, user_id: str) -> tuple[User, ScimAccount | None]:
    user = await session.scalar(select(User).where(User.id == user_id[:36], in_subtree(caller.subtree)))
    if user is None:
        raise ScimError(404, f"no user {user_id[:36]} here")
    return user, await session.get(ScimAccount, user.id)


async def search_users(
    session: AsyncSession, condition: ColumnElement[bool], order: ColumnElement[Any], start: int, count: int
) -> tuple[int, list[tuple[User, ScimAccount | None]]]:
    """RFC 7644 §3.4.2: how many people match, and the page of ``count`` from ``start`` (1-based) in ``order``."""
    joined = select(User, ScimAccount).outerjoin(ScimAccount, ScimAccount.user_id == User.id).where(condition)
    total = await session.scalar(select(func.count()).select_from(joined.subquery())) or 0
    if not count:
        return total, []
    page = await session.execute(joined.order_by(order, User.id).offset(start - 1).limit(count))
    return total, [(user, account) for user, account in page.all()]


async def load_subtree_slugs(session: AsyncSession, subtree: str, limit: int = 1000) -> list[str]:
    """The slugs of the units under ``subtree`` (an OPD path prefix), in path order."""
    query = select(OpdUnit.slug).where(OpdUnit.path.startswith(subtree)).order_by(OpdUnit.path).limit(limit)
    return list((await session.scalars(query)).all())


async def load_unit(session: AsyncSession, caller: ScimCaller, slug: str | None) -> OpdUnit:
    unit = await session.scalar(select(OpdUnit).where(OpdUnit.slug == (slug or caller.unit_slug)))
    if unit is None or not unit.path.startswith(caller.subtree):
        raise ScimError(400, f"department '{slug}' is not an OPD unit of this client's subtree", "invalidValue")
    return unit


async def check_unique(session: AsyncSession, data: UserInput, user_id: str | None) -> None:
    for column, value in ((User.email, data.email), (User.nip, data.nip), (ScimAccount.user_name, data.user_name)):
        if value is None:
            continue
        key = ScimAccount.user_id if column is ScimAccount.user_name else User.id
        holder = await session.scalar(select(key).where(column == value))
        if holder is not None and holder != user_id:
            raise ScimError(409, "a user with this userName or employeeNumber exists", "uniqueness")


def check_version(model: UserModel, if_match: str | None) -> None:
    """RFC 7644 §3.14: a write with ``If-Match`` applies only to the version it names."""
    if (
        if_match
        and if_match.strip() != "*"
        and model.meta
        and model.meta.version not in [v.strip() for v in if_match.split(",")]
    ):
        raise ScimError(412, "the resource changed since that version", "invalidVers")
