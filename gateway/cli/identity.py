"""``gerbang opd|users|clients add|list``: the directory from the command line."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING

import click

from gateway.cli import load_settings
from gateway.cli.actor import cli_actor
from gateway.cli.choices import AUTH_METHODS, GRANT_TYPES, HUB_CLIENT_IDS, ID_TOKEN_ALGS, OPD_KINDS, PROFILES
from gateway.cli.runtime import cli_profile_guard, emit, json_option, run_in_session

if TYPE_CHECKING:  # storage and crypto load when a command runs, not for --help
    from sqlalchemy.ext.asyncio import AsyncSession


@click.group("opd")
def opd_group() -> None:
    """OPD units (the city's organisation tree)."""


@opd_group.command("add")
@click.option("--slug", required=True)
@click.option("--name", required=True)
@click.option("--kind", type=click.Choice(OPD_KINDS), required=True)
@click.option("--parent", "parent", default=None, help="parent unit slug")
@json_option
def opd_add(slug: str, name: str, kind: str, parent: str | None, as_json: bool) -> None:
    """Add an OPD unit under PARENT."""
    from idp.audit import append_audit
    from idp.org import add_opd

    settings = load_settings()

    async def op(session: AsyncSession) -> dict:
        now = int(time.time())
        unit = await add_opd(session, slug, name, kind, parent, now)
        await append_audit(
            session,
            actor=cli_actor(),
            action="opd.create",
            target=f"opd:{unit.slug}",
            detail={"name": unit.name, "kind": unit.kind, "path": unit.path},
            now=now,
        )
        return {"id": unit.id, "slug": unit.slug, "name": unit.name, "kind": unit.kind, "path": unit.path}

    record = run_in_session(settings, op)
    emit(as_json, record, f"added OPD {record['slug']} ({record['path']})")


@opd_group.command("list")
@click.option("--under", default=None, help="only this unit's subtree")
@json_option
def opd_list(under: str | None, as_json: bool) -> None:
    """List OPD units as a tree."""
    from idp.org import list_opd

    settings = load_settings()

    async def op(session: AsyncSession) -> list[dict]:
        return [
            {"id": u.id, "slug": u.slug, "name": u.name, "kind": u.kind, "path": u.path}
            for u in await list_opd(session, under)
        ]

    units = run_in_session(settings, op)
    if as_json:
        emit(True, {"opd": units}, "")
        return
    for unit in units:
        depth = unit["path"].count("/") - 2
        click.echo(f"{'  ' * depth}{unit['slug']:<24} {unit['kind']:<12} {unit['name']}")


@click.group("users")
def users_group() -> None:
    """Citizens and civil servants."""


@users_group.command("add")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--nik", default=None)
@click.option("--opd", "opd_slug", default=None, help="OPD unit of an ASN")
@click.option("--role", "roles", multiple=True, help="role in the OPD (repeatable)")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@json_option
def users_add(
    email: str,
    name: str,
    nik: str | None,
    opd_slug: str | None,
    roles: tuple[str, ...],
    password_stdin: bool,
    as_json: bool,
) -> None:
    """Add a user (an ASN when --opd is given)."""
    from idp.accounts import add_user, check_password_rules
    from idp.audit import append_audit
    from idp.errors import InvalidInput
    from idp.passwords import hash_sync

    settings = load_settings()
    password_hash = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        try:
            check_password_rules(password)
        except InvalidInput as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)
        password_hash = hash_sync(password)

    async def op(session: AsyncSession) -> dict:
        now = int(time.time())
        user = await add_user(
            session,
            email=email,
            name=name,
            nik=nik,
            opd_slug=opd_slug,
            roles=roles,
            password_hash=password_hash,
            now=now,
        )
        await append_audit(
            session,
            actor=cli_actor(),
            action="user.create",
            target=f"user:{user.id}",
            # no email, name or NIK in hashed content: erasure must leave the chain verifiable
            detail={
                "kind": user.kind,
                "opd": opd_slug,
                "roles": list(roles),
                "password_set": password_hash is not None,
            },
            now=now,
        )
        return {"id": user.id, "email": user.email, "name": user.name, "kind": user.kind}

    record = run_in_session(settings, op)
    emit(as_json, record, f"added user {record['email']} ({record['id']})")


@users_group.command("list")
@click.option("--search", default=None)
@click.option("--limit", default=100, show_default=True)
@json_option
def users_list(search: str | None, limit: int, as_json: bool) -> None:
    """List users."""
    from idp.accounts import list_users

    settings = load_settings()

    async def op(session: AsyncSession) -> list[dict]:
        return [
            {
                "id": u.id,
                "email": u.email,
                "name": u.name,
                "kind": u.kind,
                "disabled": u.disabled,
                "roles": [f"{m.role}@{m.opd.slug}" for m in u.memberships],
            }
            for u in await list_users(session, search, limit)
        ]

    users = run_in_session(settings, op)
    if as_json:
        emit(True, {"users": users}, "")
        return
    for user in users:
        click.echo(f"{user['email']:<36} {user['kind']:<8} {user['name']}  {' '.join(user['roles'])}")


@click.group("clients")
def clients_group() -> None:
    """OAuth clients (relying parties and integrations)."""


@clients_group.command("add")
@click.option("--name", required=True)
@click.option(
    "--client-id", default=None, help="a chosen client id, e.g. one Kominfo's policies name (default: a random one)"
)
@click.option("--opd", "opd_slug", default=None)
@click.option("--redirect-uri", "redirect_uris", multiple=True)
@click.option("--post-logout-redirect-uri", "logout_uris", multiple=True)
@click.option(
    "--grant",
    "grants",
    multiple=True,
    type=click.Choice(GRANT_TYPES),
    help="default: authorization_code and refresh_token",
)
@click.option("--scope", default="openid profile email", show_default=True)
@click.option("--public", is_flag=True, help="no secret (native and browser apps; PKCE)")
@click.option("--auth-method", type=click.Choice(AUTH_METHODS), default=None)
@click.option("--resource", "resources", multiple=True, help="API this client may get tokens for")
@click.option("--jwks-file", type=click.File(), default=None, help="public keys for private_key_jwt")
@click.option("--jwks-uri", default=None, help="where the client publishes its public keys (instead of --jwks-file)")
@click.option("--first-party", is_flag=True, help="skip the consent page (Kominfo's own apps)")
@click.option("--backchannel-logout-uri", default=None)
@click.option(
    "--profile",
    type=click.Choice(PROFILES),
    default=None,
    help="fapi2: PAR, PKCE S256, private_key_jwt, DPoP-bound tokens (FAPI 2.0 Security Profile)",
)
@click.option("--require-par", is_flag=True, help="authorization requests must be pushed (RFC 9126)")
@click.option("--dpop-bound", is_flag=True, help="access tokens only with a DPoP proof (RFC 9449)")
@click.option("--id-token-alg", type=click.Choice(ID_TOKEN_ALGS), default=None, help="default: ES256")
@json_option
def clients_add(
    name: str,
    client_id: str | None,
    opd_slug: str | None,
    redirect_uris: tuple[str, ...],
    logout_uris: tuple[str, ...],
    grants: tuple[str, ...],
    scope: str,
    public: bool,
    auth_method: str | None,
    resources: tuple[str, ...],
    jwks_file,
    jwks_uri: str | None,
    first_party: bool,
    backchannel_logout_uri: str | None,
    profile: str | None,
    require_par: bool,
    dpop_bound: bool,
    id_token_alg: str | None,
    as_json: bool,
) -> None:
    """Register an OAuth client; prints the secret once."""
    from idp.audit import append_audit
    from idp.clients import ClientSecurity, add_client
    from idp.upstream_addresses import build_upstream_addresses

    settings = load_settings()
    jwks = json.load(jwks_file) if jwks_file else None
    if client_id in HUB_CLIENT_IDS:
        raise click.UsageError(f"client id '{client_id}' is the hub's own")
    guard = cli_profile_guard(settings)

    async def op(session: AsyncSession) -> dict:
        now = int(time.time())
        client, secret = await add_client(
            session,
            name=name,
            client_id=client_id,
            opd_slug=opd_slug,
            redirect_uris=redirect_uris,
            post_logout_redirect_uris=logout_uris,
            grant_types=grants or ("authorization_code", "refresh_token"),
            scope=scope,
            public=public,
            auth_method=auth_method,
            resources=resources,
            jwks=jwks,
            first_party=first_party,
            backchannel_logout_uri=backchannel_logout_uri,
            now=now,
            security=ClientSecurity(profile, require_par, dpop_bound, id_token_alg),
            jwks_uri=jwks_uri,
            addresses=build_upstream_addresses(settings),
        )
        await guard.check(session, client_ids={client.client_id})
        await append_audit(
            session,
            actor=cli_actor(),
            action="client.create",
            target=f"client:{client.client_id}",
            detail={
                "name": client.name,
                "opd": opd_slug,
                "grant_types": client.grant_types,
                "auth_method": client.auth_method,
                "scope": client.scope,
                "redirect_uris": client.redirect_uris,
                "resources": client.resources,
                "first_party": client.first_party,
                "profile": client.profile,
                "require_par": client.require_par,
                "dpop_bound": client.dpop_bound,
                "jwks_uri": client.jwks_uri,
            },
            now=now,
        )
        return {
            "id": client.id,
            "client_id": client.client_id,
            "client_secret": secret,
            "name": client.name,
            "token_endpoint_auth_method": client.auth_method,
            "profile": client.profile,
            "require_pushed_authorization_requests": client.require_par,
            "dpop_bound_access_tokens": client.dpop_bound,
            "id_token_signed_response_alg": client.id_token_alg or "ES256",
        }

    record = run_in_session(settings, op)
    human = f"client_id:     {record['client_id']}\nclient_secret: {record['client_secret'] or '(none)'}"
    emit(as_json, record, human)


@clients_group.command("list")
@json_option
def clients_list(as_json: bool) -> None:
    """List OAuth clients."""
    from idp.clients import list_clients

    settings = load_settings()

    async def op(session: AsyncSession) -> list[dict]:
        return [
            {
                "id": c.id,
                "client_id": c.client_id,
                "name": c.name,
                "status": c.status,
                "grant_types": c.grant_types,
                "auth_method": c.auth_method,
            }
            for c in await list_clients(session)
        ]

    clients = run_in_session(settings, op)
    if as_json:
        emit(True, {"clients": clients}, "")
        return
    for client in clients:
        click.echo(f"{client['client_id']:<26} {client['status']:<9} {client['name']}")


@clients_group.command("initial-token")
@click.option("--opd", "opd_slug", default=None, help="the registered client belongs to this OPD")
@click.option(
    "--ttl",
    type=click.IntRange(60, 30 * 86_400),
    default=7 * 86_400,
    show_default=True,
    help="seconds until the token expires",
)
@json_option
def clients_initial_token(opd_slug: str | None, ttl: int, as_json: bool) -> None:
    """Issue a single-use initial access token for dynamic registration (RFC 7591) at /auth/clients."""
    from idp.client_registration import issue_initial_token

    settings = load_settings()

    async def op(session: AsyncSession) -> dict:
        token, row = await issue_initial_token(
            session, created_by=cli_actor(), opd_slug=opd_slug, ttl=ttl, now=int(time.time())
        )
        return {
            "initial_access_token": token,
            "expires_at": row.expires_at,
            "opd": opd_slug,
            "registration_endpoint": f"{settings.issuer.rstrip('/')}/auth/clients",
        }

    record = run_in_session(settings, op)
    emit(as_json, record, f"initial access token (single use): {record['initial_access_token']}")


def register(group: click.Group) -> None:
    from gateway.cli import edits, users_import

    for command in (opd_group, users_group, clients_group):
        edits.extend(command)  # update, remove, ... (gateway.cli.edits)
        group.add_command(command)
    users_import.extend(users_group)
