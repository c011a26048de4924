"""The database read into the configuration files' shape (``gerbang export``, and ``plan``'s "current")."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.apps import stored_hosts
from gateway.city_config.document import AppEntry, CityConfig, ClientEntry, IdpEntry, OpdEntry, UserEntry
from idp.clients import HUB_CLIENT_IDS
from idp.storage.gateway_models import App
from idp.storage.models import Client, Membership, OpdUnit, UpstreamIdp, User


async def read_state(session: AsyncSession, emails: frozenset[str] = frozenset()) -> CityConfig:
    """``emails``: accounts to include even without a role (those a configuration file names)."""
    units = list((await session.scalars(select(OpdUnit).order_by(OpdUnit.path))).all())
    slug_of: dict[int | None, str] = {unit.id: unit.slug for unit in units}
    opd = [OpdEntry(slug=u.slug, name=u.name, kind=u.kind, parent=slug_of.get(u.parent_id)) for u in units]
    clients = [
        ClientEntry(
            client_id=c.client_id,
            name=c.name,
            opd=slug_of.get(c.opd_id),
            redirect_uris=list(c.redirect_uris),
            post_logout_redirect_uris=list(c.post_logout_redirect_uris),
            grant_types=list(c.grant_types),
            scope=c.scope,
            auth_method=c.auth_method,
            resources=list(c.resources),
            first_party=c.first_party,
            backchannel_logout_uri=c.backchannel_logout_uri,
            jwks=c.jwks,
            jwks_uri=c.jwks_uri,
            profile=c.profile,
            require_par=bool(c.require_par),
            dpop_bound=bool(c.dpop_bound),
            id_token_alg=c.id_token_alg,
            status=c.status,
        )
        for c in (await session.scalars(select(Client).order_by(Client.client_id))).all()
        if c.client_id not in HUB_CLIENT_IDS
    ]
    apps = [
        AppEntry(
            slug=a.slug,
            name=a.name,
            opd=slug_of[a.opd_id],
            upstreams=list(a.upstreams),
            auth_mode=a.auth_mode,
            client_id=a.client_id,
            resource=a.resource,
            hosts=list(stored_hosts(a)),
            restricted=a.restricted,
            status=a.status,
            claims=None if a.claims is None else list(a.claims),
            require_dpop=bool(a.require_dpop),
            integrity=a.integrity or "none",
        )
        for a in (await session.scalars(select(App).order_by(App.slug))).all()
    ]
    idps = [
        IdpEntry(
            slug=i.slug,
            name=i.name,
            issuer=i.issuer,
            client_id=i.client_id,
            scope=i.scope,
            link_by=i.link_by,
            authoritative=i.authoritative,
            acr_map=dict(i.acr_map),
            audience=i.audience,
            enabled=i.enabled,
        )
        for i in (await session.scalars(select(UpstreamIdp).order_by(UpstreamIdp.slug))).all()
    ]
    return CityConfig(opd=opd, clients=clients, apps=apps, users=await _staff(session, slug_of, emails), idps=idps)


async def _staff(session: AsyncSession, slug_of: dict[int | None, str], emails: frozenset[str]) -> list[UserEntry]:
    """Every account holding a role (staff); citizens are not configuration and are never exported."""
    rows = (await session.execute(select(Membership.user_id, Membership.opd_id, Membership.role))).all()
    roles: dict[str, list[str]] = {}
    for user_id, opd_id, role in rows:
        roles.setdefault(user_id, []).append(f"{role}@{slug_of[opd_id]}")
    if not roles and not emails:
        return []
    users = (
        await session.scalars(
            select(User).where(or_(User.id.in_(list(roles)), User.email.in_(list(emails)))).order_by(User.email)
        )
    ).all()
    return [UserEntry(email=u.email, name=u.name, nip=u.nip, roles=sorted(roles.get(u.id, []))) for u in users]
