"""``gerbang apps update|remove``, ``clients update|rotate-secret|remove``, ``users update|disable|enable``,
``opd update|move|remove``: nothing registered is write-once.

Every change is audited with a diff (actor ``cli:<os user>@<host>``); running hubs pick it up within seconds
(the app registry's refresh, the client cache's few seconds, the subject cache's TTL). Removals ask first
unless ``--yes`` is given.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import click

from gateway.cli import load_settings
from gateway.cli.actor import cli_actor
from gateway.cli.choices import APP_AUTH_MODES
from gateway.cli.runtime import cli_profile_guard, emit, json_option, run_in_session

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

DURATION = re.compile(r"^(\d+)([smhd]?)$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "": 60}


def parse_grace(value: str) -> int:
    """``90s``, ``15m``, ``2h``, ``1d``; a bare number is minutes."""
    match = DURATION.match(value.strip().lower())
    if not match:
        raise click.BadParameter("use a number with s, m, h or d (a bare number is minutes), e.g. 15m")
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


def pick(positional: str | None, option: str | None, what: str) -> str:
    """A command names its target positionally (``gerbang apps remove parkir``) or by option (``--slug``)."""
    if positional and option and positional != option:
        raise click.UsageError(f"two different {what}s given: {positional} and {option}")
    value = positional or option
    if not value:
        raise click.UsageError(f"name the {what}")
    return value


def confirm_removal(what: str, yes: bool) -> None:
    if not yes and not click.confirm(f"Remove {what}? This cannot be undone", default=False):
        raise click.Abort()


def _changes(**options: Any) -> dict[str, Any]:
    """The options given (not None; empty tuples from unused multiple options are dropped)."""
    return {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in options.items()
        if value is not None and value != ()
    }


def _report(as_json: bool, target: str, diff: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    record = {"target": target, "changed": bool(diff), "diff": diff, **(extra or {})}
    if as_json:
        emit(True, record, "")
        return
    if not diff:
        click.echo(f"{target}: nothing changed")
        return
    click.echo(f"{target} changed:")
    for name, change in diff.items():
        click.echo(f"  {name}: {change['from']!r} -> {change['to']!r}")


# --- apps ------------------------------------------------------------------------------------------------------
@click.command("update")
@click.argument("slug_arg", metavar="SLUG", required=False)
@click.option("--slug", default=None)
@click.option("--name", default=None)
@click.option("--opd", default=None, help="move the app to this OPD unit")
@click.option("--upstream", "upstreams", multiple=True, help="replaces the upstream list (repeatable)")
@click.option("--auth", "auth_mode", type=click.Choice(APP_AUTH_MODES), default=None)
@click.option("--client", "client_id", default=None, help="the app's OAuth client_id ('' clears it)")
@click.option("--resource", default=None, help="resource identifier ('' restores the default)")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="replaces the extra host names the app is served at (repeatable; '' clears them)",
)
@click.option("--restricted/--unrestricted", default=None)
@click.option("--require-dpop/--no-require-dpop", default=None, help="bearer apps: DPoP-bound tokens only (RFC 9449)")
@click.option(
    "--integrity",
    type=click.Choice(("none", "signed", "ledger")),
    default=None,
    help="signed: RFC 9421 signed requests; ledger: also a receipt per request",
)
@click.option(
    "--case-insensitive-paths/--case-sensitive-paths",
    default=None,
    help="the upstream ignores case in paths (IIS...): policy paths match without case",
)
@click.option(
    "--allow-ambiguous-paths/--refuse-ambiguous-paths",
    default=None,
    help="forward paths with ';', double encoding or trailing dots/spaces",
)
@click.option(
    "--websocket-origin",
    "websocket_origins",
    multiple=True,
    help="replaces the other origins allowed to open the app's WebSockets (repeatable)",
)
@click.option(
    "--claims",
    default=None,
    help="identity claims its assertion carries, comma-separated, of email,name,nik,nip,opd,roles,acr,amr "
    "('default': name,opd,roles,acr)",
)
@json_option
def apps_update(slug_arg: str | None, slug: str | None, as_json: bool, **options: Any) -> None:
    """Change an app; every gateway routes by the new settings within seconds."""
    from gateway.app_edits import update_app
    from idp.upstream_addresses import build_upstream_addresses

    target = pick(slug_arg, slug, "app slug")
    settings = load_settings()
    changes = _changes(**options)
    if "hosts" in changes:  # --host '' alone: no extra host names
        changes["hosts"] = [host for host in changes["hosts"] if host.strip()]
    guard = cli_profile_guard(settings)

    async def op(session: AsyncSession) -> dict[str, Any]:
        if "claims" in changes:  # "default": back to name,opd,roles,acr
            from gateway.claims import parse_claims

            text = changes["claims"].strip()
            changes["claims"] = None if text == "default" else list(parse_claims(text))
        _, diff = await update_app(
            session,
            target,
            changes,
            issuer=settings.issuer,
            actor=cli_actor(),
            now=int(time.time()),
            addresses=build_upstream_addresses(settings),
            apps_domain=settings.apps_domain,
            profiles=guard,
        )
        return diff

    _report(as_json, f"app {target}", run_in_session(settings, op))


@click.command("remove")
@click.argument("slug_arg", metavar="SLUG", required=False)
@click.option("--slug", default=None)
@click.option("--yes", is_flag=True, help="do not ask")
@json_option
def apps_remove(slug_arg: str | None, slug: str | None, yes: bool, as_json: bool) -> None:
    """Remove an app: every gateway answers 404 for it within seconds."""
    from gateway.app_edits import remove_app

    target = pick(slug_arg, slug, "app slug")
    confirm_removal(f"app {target}", yes)
    settings = load_settings()

    async def op(session: AsyncSession) -> dict[str, Any]:
        return await remove_app(session, target, actor=cli_actor(), now=int(time.time()))

    removed = run_in_session(settings, op)
    emit(as_json, {"removed": target, "was": removed}, f"removed app {target}")


# --- clients ---------------------------------------------------------------------------------------------------
@click.command("update")
@click.argument("client_arg", metavar="CLIENT_ID", required=False)
@click.option("--client-id", default=None)
@click.option("--name", default=None)
@click.option("--opd", default=None)
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="replaces the list (repeatable)")
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True, help="replaces the list")
@click.option("--scope", default=None, help="space-separated; replaces the allowed scopes")
@click.option(
    "--grant",
    "grant_types",
    multiple=True,
    type=click.Choice(("authorization_code", "refresh_token", "client_credentials")),
    help="replaces",
)
@click.option("--resource", "resources", multiple=True, help="replaces the APIs the client may get tokens for")
@click.option("--backchannel-logout-uri", default=None, help="'' clears it")
@json_option
def clients_update(client_arg: str | None, client_id: str | None, as_json: bool, **options: Any) -> None:
    """Change a client's metadata (the secret stays; see rotate-secret)."""
    from idp.client_edits import update_client

    target = pick(client_arg, client_id, "client id")
    settings = load_settings()
    changes = _changes(**options)
    guard = cli_profile_guard(settings)

    async def op(session: AsyncSession) -> dict[str, Any]:
        _, diff = await update_client(session, target, changes, actor=cli_actor(), now=int(time.time()), profiles=guard)
        return diff

    _report(as_json, f"client {target}", run_in_session(settings, op))


@click.command("rotate-secret")
@click.argument("client_arg", metavar="CLIENT_ID", required=False)
@click.option("--client-id", default=None)
@click.option(
    "--grace",
    default="15m",
    show_default=True,
    help="how long the old secret keeps working: 90s, 15m, 2h, 1d (a bare number is minutes; 0 = now)",
)
@json_option
def clients_rotate_secret(client_arg: str | None, client_id: str | None, grace: str, as_json: bool) -> None:
    """Issue a new client secret (printed once); the old one works for the grace period, then dies."""
    from idp.client_edits import rotate_client_secret

    target = pick(client_arg, client_id, "client id")
    grace_seconds = parse_grace(grace)
    settings = load_settings()

    async def op(session: AsyncSession) -> tuple[str, int]:
        return await rotate_client_secret(
            session, target, grace_seconds=grace_seconds, actor=cli_actor(), now=int(time.time())
        )

    secret, until = run_in_session(settings, op)
    emit(
        as_json,
        {"client_id": target, "client_secret": secret, "old_secret_valid_until": until},
        f"client_id:     {target}\nclient_secret: {secret}\n"
        f"the old secret works until {time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(until))}",
    )


@click.command("remove")
@click.argument("client_arg", metavar="CLIENT_ID", required=False)
@click.option("--client-id", default=None)
@click.option("--yes", is_flag=True, help="do not ask")
@json_option
def clients_remove(client_arg: str | None, client_id: str | None, yes: bool, as_json: bool) -> None:
    """Remove a client: its tokens are revoked and it can no longer sign anyone in."""
    from idp.client_edits import remove_client

    target = pick(client_arg, client_id, "client id")
    confirm_removal(f"client {target}", yes)
    settings = load_settings()

    async def op(session: AsyncSession) -> dict[str, Any]:
        return await remove_client(session, target, actor=cli_actor(), now=int(time.time()))

    removed = run_in_session(settings, op)
    emit(as_json, {"removed": target, "was": removed}, f"removed client {target}")


# --- users -----------------------------------------------------------------------------------------------------
@click.command("update")
@click.option("--user", "user_key", required=True, help="the user's email, NIK or id")
@click.option("--name", default=None)
@click.option("--email", default=None)
@click.option("--nik", default=None, help="'' removes it")
@json_option
def users_update(user_key: str, name: str | None, email: str | None, nik: str | None, as_json: bool) -> None:
    """Change a user's name, email or NIK."""
    from idp.account_edits import load_user_by_key, update_user

    settings = load_settings()

    async def op(session: AsyncSession) -> dict[str, Any]:
        user = await load_user_by_key(session, user_key)
        return await update_user(
            session, user, name=name, email=email, nik=nik, actor=cli_actor(), now=int(time.time())
        )

    _report(as_json, f"user {user_key}", run_in_session(settings, op))


def _set_disabled(user_key: str, disabled: bool, as_json: bool) -> None:
    from gateway.admin.accounts import set_disabled
    from gateway.admin.actor import Actor
    from idp.account_edits import load_user_by_key

    settings = load_settings()

    async def op(session: AsyncSession) -> dict[str, Any]:
        user = await load_user_by_key(session, user_key)
        actor = Actor(cli_actor(), kominfo=True, admin_paths=(), operator_paths=())
        return await set_disabled(session, actor, user.id, disabled, int(time.time()))

    record = run_in_session(settings, op)
    emit(as_json, record, f"user {record['email']} is now {'disabled' if disabled else 'enabled'}")


@click.command("disable")
@click.option("--user", "user_key", required=True, help="the user's email, NIK or id")
@json_option
def users_disable(user_key: str, as_json: bool) -> None:
    """Disable an account: its sessions and token families end now."""
    _set_disabled(user_key, True, as_json)


@click.command("enable")
@click.option("--user", "user_key", required=True, help="the user's email, NIK or id")
@json_option
def users_enable(user_key: str, as_json: bool) -> None:
    """Enable a disabled account."""
    _set_disabled(user_key, False, as_json)


# --- OPD units -------------------------------------------------------------------------------------------------
@click.command("update")
@click.argument("slug")
@click.option("--name", default=None)
@click.option("--kind", default=None)
@json_option
def opd_update(slug: str, name: str | None, kind: str | None, as_json: bool) -> None:
    """Rename an OPD unit or change its kind."""
    from idp.org_edits import update_opd

    settings = load_settings()

    async def op(session: AsyncSession) -> dict[str, Any]:
        _, diff = await update_opd(session, slug, name=name, kind=kind, actor=cli_actor(), now=int(time.time()))
        return diff

    _report(as_json, f"OPD {slug}", run_in_session(settings, op))


@click.command("move")
@click.argument("slug")
@click.option("--parent", default=None, help="the new parent unit")
@click.option("--root", is_flag=True, help="make it a root unit")
@json_option
def opd_move(slug: str, parent: str | None, root: bool, as_json: bool) -> None:
    """Move an OPD unit (with its whole subtree) under another unit."""
    from idp.org_edits import move_opd

    if bool(parent) == root:
        raise click.UsageError("give either --parent SLUG or --root")
    settings = load_settings()

    async def op(session: AsyncSession) -> dict[str, Any]:
        _, diff = await move_opd(session, slug, parent, actor=cli_actor(), now=int(time.time()))
        return diff

    _report(as_json, f"OPD {slug}", run_in_session(settings, op))


@click.command("remove")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="do not ask")
@json_option
def opd_remove(slug: str, yes: bool, as_json: bool) -> None:
    """Remove an empty OPD unit (refused while sub-units, members, apps or clients belong to it)."""
    from idp.org_edits import remove_opd

    confirm_removal(f"OPD unit {slug}", yes)
    settings = load_settings()

    async def op(session: AsyncSession) -> dict[str, Any]:
        return await remove_opd(session, slug, actor=cli_actor(), now=int(time.time()))

    removed = run_in_session(settings, op)
    emit(as_json, {"removed": slug, "was": removed}, f"removed OPD {slug}")


EDITS: dict[str, tuple[click.Command, ...]] = {
    "apps": (apps_update, apps_remove),
    "clients": (clients_update, clients_rotate_secret, clients_remove),
    "users": (users_update, users_disable, users_enable),
    "opd": (opd_update, opd_move, opd_remove),
}


def extend(group: click.Group) -> None:
    """Add the edit commands to one of the noun groups (``apps``, ``clients``, ``users``, ``opd``)."""
    for command in EDITS.get(group.name or "", ()):
        group.add_command(command)
