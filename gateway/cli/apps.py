"""``gerbang apps add|list|audit``: the app registry from the command line."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import TYPE_CHECKING

import click

from gateway.cli import load_settings
from gateway.cli.actor import cli_actor
from gateway.cli.choices import APP_AUTH_MODES, APP_INTEGRITY_MODES
from gateway.cli.edits import extend, pick
from gateway.cli.runtime import cli_profile_guard, emit, json_option, run_in_session

if TYPE_CHECKING:  # storage, crypto and the probe load when a command runs, not for --help
    from sqlalchemy.ext.asyncio import AsyncSession

    from gateway.apps import AppRecord
    from gateway.bypass_probe import AppAudit
    from gateway.settings import Settings

EXIT_REACHABLE = 1
APPROVED = ("active", "suspended")


@click.group("apps")
def apps_group() -> None:
    """OPD apps behind the gateway."""


@apps_group.command("add")
@click.option("--slug", required=True, help="the app's name: it is served at SLUG.{GERBANG_APPS_DOMAIN}")
@click.option("--opd", "opd_slug", required=True, help="owning OPD unit")
@click.option("--upstream", "upstreams", multiple=True, required=True, help="upstream base URL (repeatable)")
@click.option("--auth", "auth_mode", type=click.Choice(APP_AUTH_MODES), required=True)
@click.option("--name", default=None, help="display name (default: the slug)")
@click.option("--client", "client_id", default=None, help="the app's OAuth client_id")
@click.option("--resource", default=None, help="resource identifier (default: the app's origin + /)")
@click.option(
    "--host", "hosts", multiple=True, help="also serve the app at this host name, its own origin too (repeatable)"
)
@click.option("--restricted", is_flag=True, help="only members of the owning OPD (policies decide)")
@click.option(
    "--case-insensitive-paths",
    is_flag=True,
    help="the upstream ignores case in paths (IIS...): policy paths match without case",
)
@click.option(
    "--allow-ambiguous-paths",
    is_flag=True,
    help="forward paths with ';', double encoding or trailing dots/spaces (refused by default)",
)
@click.option(
    "--websocket-origin",
    "websocket_origins",
    multiple=True,
    help="another origin allowed to open the app's WebSockets (repeatable)",
)
@click.option("--require-dpop", is_flag=True, help="bearer apps: DPoP-bound tokens only (RFC 9449)")
@click.option(
    "--integrity",
    type=click.Choice(APP_INTEGRITY_MODES),
    default="none",
    show_default=True,
    help="signed: RFC 9421 signed requests; ledger: also a receipt per request (docs/integrity.md)",
)
@click.option(
    "--claims",
    default=None,
    help="identity claims its assertion carries, comma-separated, of email,name,nik,nip,opd,roles,acr,amr "
    "(default: name,opd,roles,acr)",
)
@json_option
def apps_add(
    slug: str,
    opd_slug: str,
    upstreams: tuple[str, ...],
    auth_mode: str,
    name: str | None,
    client_id: str | None,
    resource: str | None,
    hosts: tuple[str, ...],
    restricted: bool,
    case_insensitive_paths: bool,
    allow_ambiguous_paths: bool,
    websocket_origins: tuple[str, ...],
    require_dpop: bool,
    claims: str | None,
    integrity: str,
    as_json: bool,
) -> None:
    """Register an app; running gateways route to it within seconds."""
    from gateway.app_edits import add_app_audited
    from gateway.claims import parse_claims
    from idp.app_origins import app_origin
    from idp.upstream_addresses import build_upstream_addresses

    settings = load_settings()
    guard = cli_profile_guard(settings)

    async def op(session: AsyncSession) -> AppRecord:
        return await add_app_audited(
            session,
            actor=cli_actor(),
            profiles=guard,
            slug=slug,
            opd_slug=opd_slug,
            upstreams=upstreams,
            auth_mode=auth_mode,
            issuer=settings.issuer,
            now=int(time.time()),
            name=name,
            client_id=client_id,
            resource=resource,
            hosts=hosts,
            restricted=restricted,
            case_insensitive_paths=case_insensitive_paths,
            allow_ambiguous_paths=allow_ambiguous_paths,
            websocket_origins=websocket_origins,
            addresses=build_upstream_addresses(settings),
            apps_domain=settings.apps_domain,
            require_dpop=require_dpop,
            claims=None if claims is None else parse_claims(claims),
            integrity=integrity,
        )

    record = run_in_session(settings, op)
    addresses = " ".join(app_origin(settings.issuer, host) + "/" for host in record.hosts)
    emit(as_json, record.as_json(), f"added app {record.slug} at {addresses} (resource {record.resource})")


@apps_group.command("list")
@json_option
def apps_list(as_json: bool) -> None:
    """List registered apps."""
    from gateway.apps import list_apps

    settings = load_settings()

    async def op(session: AsyncSession) -> list[AppRecord]:
        return await list_apps(session, settings.issuer, settings.apps_domain)

    records = run_in_session(settings, op)
    if as_json:
        emit(True, {"apps": [record.as_json() for record in records]}, "")
        return
    for record in records:
        click.echo(
            f"{record.slug:<20} {record.status:<9} {record.auth_mode:<7} {record.opd:<16} {' '.join(record.upstreams)}"
        )


def _set_status(slug: str, status: str, as_json: bool) -> None:
    from gateway.app_edits import set_app_status_audited

    settings = load_settings()

    async def op(session: AsyncSession) -> AppRecord:
        return await set_app_status_audited(
            session,
            slug,
            status,
            issuer=settings.issuer,
            actor=cli_actor(),
            now=int(time.time()),
            apps_domain=settings.apps_domain,
        )

    record = run_in_session(settings, op)
    emit(as_json, record.as_json(), f"app {record.slug} is now {record.status}")


@apps_group.command("suspend")
@click.argument("slug_arg", metavar="SLUG", required=False)
@click.option("--slug", default=None)
@json_option
def apps_suspend(slug_arg: str | None, slug: str | None, as_json: bool) -> None:
    """Stop routing to an app (the gateway answers 503) within seconds, on every instance."""
    _set_status(pick(slug_arg, slug, "app slug"), "suspended", as_json)


@apps_group.command("resume")
@click.argument("slug_arg", metavar="SLUG", required=False)
@click.option("--slug", default=None)
@json_option
def apps_resume(slug_arg: str | None, slug: str | None, as_json: bool) -> None:
    """Route to a suspended or pending app again."""
    _set_status(pick(slug_arg, slug, "app slug"), "active", as_json)


@apps_group.command("audit")
@click.option("--timeout", default=5.0, show_default=True, help="seconds per probe request")
@json_option
def apps_audit(timeout: float, as_json: bool) -> None:
    """Call every approved app's upstreams directly; fail when any answers without a valid assertion."""
    from sqlalchemy.exc import OperationalError

    settings = load_settings()
    try:
        audits = asyncio.run(_audit(settings, timeout))
    except OperationalError as exc:
        click.echo(
            f"error: the database is not reachable or not migrated (run `gerbang db upgrade`): {exc.orig}", err=True
        )
        sys.exit(1)
    reachable = [audit.slug for audit in audits if audit.reachable]
    if as_json:
        click.echo(
            json.dumps(
                {"ok": not reachable, "reachable_around_hub": reachable, "apps": [audit.as_json() for audit in audits]},
                ensure_ascii=False,
            )
        )
    else:
        _print_audits(audits)
    if reachable:
        sys.exit(EXIT_REACHABLE)


async def _audit(settings: Settings, timeout: float) -> list[AppAudit]:
    from gateway.apps import list_apps
    from gateway.bypass_probe import ProbeAssertions, audit_apps
    from idp.clock import SystemClock
    from idp.keys import KeyRing
    from idp.storage.db import build_engine, build_sessionmaker
    from idp.upstream_addresses import build_upstream_addresses

    engine = build_engine(settings.effective_database_url)
    try:
        sessionmaker = build_sessionmaker(engine)
        async with sessionmaker() as session:
            # Only apps Kominfo approved: a pending submission's upstream is nobody's to probe yet.
            records = [
                record
                for record in await list_apps(session, settings.issuer, settings.apps_domain)
                if record.status in APPROVED
            ]
        ring = KeyRing(sessionmaker, settings.effective_secret, settings.signing_alg, SystemClock())
        await ring.load(create_if_missing=False)
    finally:
        await engine.dispose()
    try:
        hub_kid: str | None = ring.active.kid
        hub_sign = ring.sign
    except RuntimeError:  # no signing key yet: only forged assertions can be sent
        hub_kid, hub_sign = None, None
    assertions = ProbeAssertions(settings.issuer, int(time.time()), hub_sign, hub_kid)
    return await audit_apps(records, assertions, timeout=timeout, addresses=build_upstream_addresses(settings))


def _print_audits(audits: list[AppAudit]) -> None:
    if not audits:
        click.echo("no apps registered")
    for audit in audits:
        verdict = "REACHABLE AROUND THE HUB" if audit.reachable else "ok"
        click.echo(f"{audit.slug}: {verdict}")
        for result in audit.results:
            answer = str(result.status) if result.status is not None else result.error
            mark = "!" if result.reachable else " "
            click.echo(f"  {mark} {result.upstream:<40} {result.probe:<15} {answer}")


def register(group: click.Group) -> None:
    extend(apps_group)  # update, remove (gateway.cli.edits)
    group.add_command(apps_group)
