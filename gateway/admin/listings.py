"""The admin API's read side: OPD tree, apps, clients, signing keys, audit log — each filtered and paginated,
and narrowed in SQL to what the caller may see (``scope_clauses.build_scope_clause``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin.actor import Actor, check_kominfo
from gateway.admin.http import Page
from gateway.admin.registration import app_json
from gateway.admin.request_input import check_text
from gateway.admin.scope_clauses import build_managed_clause, build_scope_clause
from gateway.apps import STATUSES
from gateway.errors import BadRequest
from gateway.policy_step import REPORT_ONLY, rule_hits
from idp.keys import key_state as signing_key_state
from idp.org import load_opd
from idp.storage.gateway_models import App
from idp.storage.models import AuditEntry, Client, OpdUnit, SigningKey
from policies.engine import PolicySet


def like_pattern(q: str) -> str:
    return "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def list_opd(
    session: AsyncSession, actor: Actor, page: Page, *, under: str | None, kind: str | None, q: str | None
) -> list[dict[str, Any]]:
    query = select(OpdUnit).where(build_scope_clause(actor, OpdUnit.path)).order_by(OpdUnit.path)
    if under is not None:
        root = await load_opd(session, under)
        query = query.where(OpdUnit.path.startswith(root.path, autoescape=True))
    if kind is not None:
        query = query.where(OpdUnit.kind == kind)
    if q is not None:
        query = query.where(
            or_(OpdUnit.slug.like(like_pattern(q), escape="\\"), OpdUnit.name.ilike(like_pattern(q), escape="\\"))
        )
    units = (await session.scalars(query.offset(page.offset).limit(page.limit + 1))).all()
    return [
        {
            "slug": u.slug,
            "name": u.name,
            "kind": u.kind,
            "path": u.path,
            "parent": u.path.rstrip("/").rsplit("/", 2)[-2] or None if u.parent_id else None,
        }
        for u in units
    ]


async def list_apps(
    session: AsyncSession,
    actor: Actor,
    page: Page,
    issuer: str,
    *,
    status: str | None,
    opd: str | None,
    q: str | None,
    apps_domain: str = "",
) -> list[dict[str, Any]]:
    if q is not None:  # the console passes its search box here unchecked
        check_text("q", q, 200)
    query = (
        select(App, OpdUnit)
        .join(OpdUnit, App.opd_id == OpdUnit.id)
        .where(build_scope_clause(actor, OpdUnit.path))
        .order_by(App.created_at, App.id)
    )
    if status is not None:
        if status not in STATUSES:
            raise BadRequest(f"'status' must be one of: {', '.join(STATUSES)}")
        query = query.where(App.status == status)
    if opd is not None:
        unit = await load_opd(session, opd)
        query = query.where(OpdUnit.path.startswith(unit.path, autoescape=True))
    if q is not None:
        query = query.where(
            or_(App.slug.like(like_pattern(q), escape="\\"), App.name.ilike(like_pattern(q), escape="\\"))
        )
    rows = await session.execute(query.offset(page.offset).limit(page.limit + 1))
    return [app_json(app, unit, issuer, apps_domain=apps_domain) for app, unit in rows.all()]


async def list_clients(
    session: AsyncSession, actor: Actor, page: Page, *, status: str | None, opd: str | None, q: str | None
) -> list[dict[str, Any]]:
    query = (
        select(Client, OpdUnit.slug)
        .outerjoin(OpdUnit, Client.opd_id == OpdUnit.id)
        .order_by(Client.created_at, Client.id)
    )
    if not actor.kominfo:  # clients without an OPD are the hub's own: Kominfo's alone
        query = query.where(build_managed_clause(actor, OpdUnit.path))
    if status is not None:
        query = query.where(Client.status == status)
    if opd is not None:
        unit = await load_opd(session, opd)
        query = query.where(OpdUnit.path.startswith(unit.path, autoescape=True))
    if q is not None:
        query = query.where(or_(Client.client_id == q, Client.name.ilike(like_pattern(q), escape="\\")))
    rows = await session.execute(query.offset(page.offset).limit(page.limit + 1))
    return [
        {
            "client_id": c.client_id,
            "name": c.name,
            "opd": slug,
            "status": c.status,
            "grant_types": list(c.grant_types),
            "redirect_uris": list(c.redirect_uris),
            "scope": c.scope,
            "auth_method": c.auth_method,
            "resources": list(c.resources),
            "first_party": c.first_party,
            "profile": c.profile,
            "dpop_bound_access_tokens": bool(c.dpop_bound),
            "require_pushed_authorization_requests": bool(c.require_par),
            "created_at": c.created_at,
        }
        for c, slug in rows.all()
    ]


async def list_keys(session: AsyncSession, actor: Actor, page: Page, now: int) -> list[dict[str, Any]]:
    check_kominfo(actor)
    keys = (
        await session.scalars(
            select(SigningKey)
            .where(
                SigningKey.id_token_only.is_(False),  # the signing keys
                SigningKey.purpose == "jws",
            )
            .order_by(SigningKey.created_at.desc(), SigningKey.kid)
            .offset(page.offset)
            .limit(page.limit + 1)
        )
    ).all()
    return [
        {
            "kid": k.kid,
            "alg": k.alg,
            "created_at": k.created_at,
            "retired_at": k.retired_at,
            "expires_at": k.expires_at,
            "state": key_state(k, now),
        }
        for k in keys
    ]


def key_state(key: SigningKey, now: int) -> str:
    return signing_key_state(key, now)  # next | active | retired | expired (idp.keys: one rule)


async def list_audit(
    session: AsyncSession,
    actor: Actor,
    page: Page,
    *,
    action: str | None,
    actor_sub: str | None,
    target: str | None,
    before: int | None,
    since: int | None = None,
    until: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first; ``before`` (a seq) pages stably while entries keep being appended. Each filter has an
    index that ends in ``seq`` (migration 0004), so a filtered page is read in order, not sorted."""
    check_kominfo(actor)
    query = select(AuditEntry).order_by(AuditEntry.seq.desc())
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if actor_sub is not None:
        query = query.where(AuditEntry.actor == actor_sub)
    if target is not None:
        query = query.where(AuditEntry.target == target)
    if before is not None:
        query = query.where(AuditEntry.seq < before)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    entries = (await session.scalars(query.offset(page.offset).limit(page.limit + 1))).all()
    return [
        {
            "seq": e.seq,
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "detail": e.detail,
            "hash": e.hash,
        }
        for e in entries
    ]


def describe_rules(policy_set: PolicySet) -> list[dict[str, Any]]:
    """The active rules for people: file, effect, what they match, and their hits (``/metrics``'s counter)."""
    hits = rule_hits()
    return [
        {
            "id": r.id,
            "file": Path(r.source).name,
            "effect": r.effect,
            "would": r.would,
            "match": r.summary,
            "report_only": r.effect == REPORT_ONLY,
            "hits": {
                effect: hits[(r.id, effect)] for effect in ("allow", "deny", REPORT_ONLY) if (r.id, effect) in hits
            },
        }
        for r in policy_set.rules
    ]
