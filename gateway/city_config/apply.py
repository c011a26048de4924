"""Carrying out a plan (``gerbang apply``) in the caller's transaction, every change audited like its CLI twin.

Created clients' secrets are returned (never stored, never in a file unless the operator names one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.app_edits import add_app_audited, set_app_status_audited, update_app
from gateway.city_config.plan import Change
from idp.account_edits import load_user_by_key, set_roles, update_user
from idp.accounts import add_user
from idp.audit import append_audit
from idp.change_diff import build_diff
from idp.client_edits import update_client
from idp.clients import ClientSecurity, add_client, check_client_security, load_client
from idp.errors import InvalidInput
from idp.federation.registry import UpstreamSpec, add_upstream, update_upstream
from idp.org import add_opd
from idp.org_edits import move_opd, update_opd
from idp.profile_rule import DeferredProfileGuard, ProfileGuard
from idp.storage.models import User
from idp.upstream_addresses import UpstreamAddresses


@dataclass
class ApplyContext:
    issuer: str
    actor: str
    now: int
    profiles: ProfileGuard  # Kominfo's profile rule, checked once after every change of the plan
    secrets: dict[str, str] = field(default_factory=dict)  # client_id → secret of each client created
    addresses: UpstreamAddresses | None = None  # upstream addresses the settings allow (None: the defaults)
    apps_domain: str = ""
    secret: bytes = b""  # seals upstream providers' credentials (the hub's secret key)
    environ: dict[str, str] = field(default_factory=dict)  # where client_secret_env names are looked up


async def apply_plan(session: AsyncSession, plan: list[Change], context: ApplyContext) -> None:
    guard = context.profiles
    batch = DeferredProfileGuard(guard.policy, guard.issuer, guard.apps_domain)
    context.profiles = batch
    try:
        for change in plan:
            await APPLIERS[change.section](session, change, context)
        await batch.finish(session)  # the whole document against the rule (the transaction is the caller's)
    finally:
        context.profiles = guard


async def _apply_opd(session: AsyncSession, change: Change, ctx: ApplyContext) -> None:
    values = change.values
    if change.action == "create":
        unit = await add_opd(session, change.key, values["name"], values["kind"], values["parent"], ctx.now)
        await append_audit(
            session,
            actor=ctx.actor,
            action="opd.create",
            target=f"opd:{unit.slug}",
            detail={"name": unit.name, "kind": unit.kind, "path": unit.path, "source": "apply"},
            now=ctx.now,
        )
    elif change.action == "update":
        await update_opd(
            session, change.key, name=_to(values, "name"), kind=_to(values, "kind"), actor=ctx.actor, now=ctx.now
        )
    else:
        await move_opd(session, change.key, values["parent"]["to"], actor=ctx.actor, now=ctx.now)


async def _apply_client(session: AsyncSession, change: Change, ctx: ApplyContext) -> None:
    values = change.values
    if change.action == "create":
        client, secret = await add_client(
            session,
            name=values["name"],
            client_id=change.key,
            opd_slug=values["opd"],
            redirect_uris=tuple(values["redirect_uris"]),
            post_logout_redirect_uris=tuple(values["post_logout_redirect_uris"]),
            grant_types=tuple(values["grant_types"]),
            scope=values["scope"],
            public=values["auth_method"] == "none",
            auth_method=values["auth_method"],
            resources=tuple(values["resources"]),
            jwks=values["jwks"],
            first_party=values["first_party"],
            status=values["status"],
            backchannel_logout_uri=values["backchannel_logout_uri"],
            now=ctx.now,
            jwks_uri=values["jwks_uri"],
            security=ClientSecurity(
                values["profile"], values["require_par"], values["dpop_bound"], values["id_token_alg"]
            ),
            addresses=ctx.addresses,
        )
        if secret is not None:
            ctx.secrets[client.client_id] = secret
        await ctx.profiles.check(session, client_ids={client.client_id})
        await append_audit(
            session,
            actor=ctx.actor,
            action="client.create",
            target=f"client:{client.client_id}",
            detail={"diff": build_diff({}, {k: v for k, v in values.items() if k != "jwks"}), "source": "apply"},
            now=ctx.now,
        )
    elif change.action == "update":
        await update_client(
            session,
            change.key,
            {name: diff["to"] for name, diff in values.items()},
            actor=ctx.actor,
            now=ctx.now,
            profiles=ctx.profiles,
        )
    elif change.action == "security":
        await _apply_client_security(session, change, ctx)
    else:
        client = await load_client(session, change.key)
        client.status = values["status"]["to"]
        client.updated_at = max(ctx.now, client.updated_at)
        await session.flush()
        await append_audit(
            session,
            actor=ctx.actor,
            action="client.status",
            target=f"client:{change.key}",
            detail={"diff": values},
            now=ctx.now,
        )


async def _apply_client_security(session: AsyncSession, change: Change, ctx: ApplyContext) -> None:
    """FAPI 2.0 profile, PAR, DPoP and ID token algorithm: the rules ``check_client_security`` holds everywhere."""
    client = await load_client(session, change.key)
    current = {
        "profile": client.profile,
        "require_par": bool(client.require_par),
        "dpop_bound": bool(client.dpop_bound),
        "id_token_alg": client.id_token_alg,
    }
    wanted = {**current, **{name: diff["to"] for name, diff in change.values.items()}}
    security = check_client_security(
        ClientSecurity(wanted["profile"], wanted["require_par"], wanted["dpop_bound"], wanted["id_token_alg"]),
        client.auth_method,
        tuple(client.grant_types),
    )
    client.profile, client.require_par = security.profile, security.require_par
    client.dpop_bound, client.id_token_alg = security.dpop_bound, security.id_token_alg
    client.updated_at = max(ctx.now, client.updated_at)
    await session.flush()
    await ctx.profiles.check(session, client_ids={change.key})
    await append_audit(
        session,
        actor=ctx.actor,
        action="client.security",
        target=f"client:{change.key}",
        detail={"diff": change.values, "source": "apply"},
        now=ctx.now,
    )


async def _apply_app(session: AsyncSession, change: Change, ctx: ApplyContext) -> None:
    values = change.values
    if change.action == "create":
        await add_app_audited(
            session,
            actor=ctx.actor,
            now=ctx.now,
            profiles=ctx.profiles,
            slug=change.key,
            opd_slug=values["opd"],
            upstreams=tuple(values["upstreams"]),
            auth_mode=values["auth_mode"],
            issuer=ctx.issuer,
            name=values["name"],
            client_id=values["client_id"],
            resource=values["resource"],
            hosts=tuple(values["hosts"]),
            restricted=values["restricted"],
            status=values["status"],
            addresses=ctx.addresses,
            apps_domain=ctx.apps_domain,
            claims=None if values.get("claims") is None else tuple(values["claims"]),
            require_dpop=bool(values.get("require_dpop")),
            integrity=values.get("integrity", "none"),
        )
    elif change.action == "update":
        await update_app(
            session,
            change.key,
            {name: diff["to"] for name, diff in values.items()},
            issuer=ctx.issuer,
            actor=ctx.actor,
            now=ctx.now,
            addresses=ctx.addresses,
            apps_domain=ctx.apps_domain,
            profiles=ctx.profiles,
        )
    else:
        await set_app_status_audited(
            session, change.key, values["status"]["to"], issuer=ctx.issuer, actor=ctx.actor, now=ctx.now
        )


async def _apply_user(session: AsyncSession, change: Change, ctx: ApplyContext) -> None:
    values = change.values
    if change.action == "create":
        user = await session.scalar(select(User).where(User.email == change.key))
        if user is None:
            user = await add_user(session, email=change.key, name=values["name"], password_hash=None, now=ctx.now)
            user.nip = values.get("nip")
            await session.flush()
            await append_audit(
                session,
                actor=ctx.actor,
                action="user.create",
                target=f"user:{user.id}",
                detail={"email": user.email, "nip": user.nip, "source": "apply"},
                now=ctx.now,
            )
        await set_roles(session, user, _pairs(values["roles"]), actor=ctx.actor, now=ctx.now)
        return
    user = await load_user_by_key(session, change.key)
    if change.action == "roles":
        await set_roles(session, user, _pairs(values["roles"]["to"]), actor=ctx.actor, now=ctx.now)
        return
    await update_user(session, user, name=_to(values, "name"), actor=ctx.actor, now=ctx.now)
    if "nip" in values:
        user.nip = values["nip"]["to"]
        await session.flush()
        await append_audit(
            session,
            actor=ctx.actor,
            action="user.update",
            target=f"user:{user.id}",
            detail={"diff": {"nip": values["nip"]}},
            now=ctx.now,
        )


async def _apply_idp(session: AsyncSession, change: Change, ctx: ApplyContext) -> None:
    values = change.values
    if change.action == "create":
        fields: dict[str, Any] = {name: values[name] for name in SPEC_FIELDS}
        fields.update(_credential(change.key, values, ctx))
        spec = UpstreamSpec(**fields)
        await add_upstream(
            session,
            change.key,
            spec,
            secret=ctx.secret,
            actor=ctx.actor,
            now=ctx.now,
            addresses=ctx.addresses or UpstreamAddresses(),
        )
        return
    spec = UpstreamSpec(**{name: diff["to"] for name, diff in values.items()})
    await update_upstream(
        session,
        change.key,
        spec,
        secret=ctx.secret,
        actor=ctx.actor,
        now=ctx.now,
        addresses=ctx.addresses or UpstreamAddresses(),
    )


SPEC_FIELDS = ("name", "issuer", "client_id", "scope", "link_by", "authoritative", "acr_map", "audience", "enabled")


def _credential(slug: str, values: dict[str, Any], ctx: ApplyContext) -> dict[str, str]:
    """The secret from the environment variable, or the PEM from the file, that the entry names."""
    if values.get("client_secret_env"):
        secret = ctx.environ.get(values["client_secret_env"])
        if not secret:
            raise InvalidInput(f"idp '{slug}': environment variable {values['client_secret_env']} is not set")
        return {"client_secret": secret}
    if values.get("private_key_file"):
        try:
            return {"private_key_pem": Path(values["private_key_file"]).read_text(encoding="utf-8")}
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"idp '{slug}': cannot read {values['private_key_file']}: {exc}") from exc
    raise InvalidInput(f"idp '{slug}': a new upstream needs client_secret_env or private_key_file")


def _to(values: dict[str, Any], name: str) -> Any:
    return values[name]["to"] if name in values else None


def _pairs(roles: list[str]) -> list[tuple[str, str]]:
    """``role@opd`` → (opd, role)."""
    return [(text.split("@", 1)[1], text.split("@", 1)[0]) for text in roles]


APPLIERS = {"opd": _apply_opd, "client": _apply_client, "app": _apply_app, "user": _apply_user, "idp": _apply_idp}
