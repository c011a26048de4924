"""``gerbang idps add|list|update|remove``: the upstream identity providers the hub brokers to."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import click

from gateway.cli import load_settings
from gateway.cli.actor import cli_actor
from gateway.cli.runtime import emit, json_option, run_in_session
from idp.errors import InvalidInput

if TYPE_CHECKING:  # storage and crypto load when a command runs, not for --help
    from sqlalchemy.ext.asyncio import AsyncSession

    from idp.federation.registry import UpstreamSpec


def _registry() -> ModuleType:
    from idp.federation import registry

    return registry


def _addresses(settings: Any) -> Any:
    from idp.upstream_addresses import build_upstream_addresses

    return build_upstream_addresses(settings)


@click.group("idps")
def idps_group() -> None:
    """Upstream OpenID providers (INApas, SSO ASN) citizens and staff may sign in with."""


def _spec_options(func: Any) -> Any:
    options = [
        click.option("--name", default=None, help='shown on the sign-in button ("Masuk dengan NAME")'),
        click.option("--issuer", default=None, help="the upstream's issuer URL (discovery is read from it)"),
        click.option("--client-id", default=None, help="Gerbang's client id at the upstream"),
        click.option("--client-secret-stdin", is_flag=True, help="read the client secret from standard input"),
        click.option(
            "--private-key-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="PEM private key for private_key_jwt toward the upstream",
        ),
        click.option("--scope", default=None, help='default "openid profile email"'),
        click.option(
            "--link-by",
            type=click.Choice(["nik", "nip", "email", "none"]),
            default=None,
            help="identifier a first sign-in may match an existing account by (default email)",
        ),
        click.option(
            "--authoritative/--not-authoritative",
            default=None,
            help="link on a matching nik/nip without asking for the local password",
        ),
        click.option("--acr-map", "acr_map", multiple=True, help="UPSTREAM=LOCAL (repeatable), LOCAL 1 or 2"),
        click.option(
            "--for",
            "audience",
            type=click.Choice(["citizens", "asn", "all"]),
            default=None,
            help="whose accounts it signs in (default all)",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _build_spec(
    name: str | None,
    issuer: str | None,
    client_id: str | None,
    client_secret_stdin: bool,
    private_key_file: Path | None,
    scope: str | None,
    link_by: str | None,
    authoritative: bool | None,
    acr_map: tuple[str, ...],
    audience: str | None,
    enabled: bool | None = None,
) -> UpstreamSpec:
    if client_secret_stdin and private_key_file:
        _fail("give either --client-secret-stdin or --private-key-file")
    try:
        mapping = _registry().parse_acr_map(acr_map) if acr_map else None
    except InvalidInput as exc:
        _fail(exc.message)
    secret = sys.stdin.readline().rstrip("\r\n") if client_secret_stdin else None
    pem = private_key_file.read_text() if private_key_file else None
    return _registry().UpstreamSpec(
        name=name,
        issuer=issuer,
        client_id=client_id,
        client_secret=secret,
        private_key_pem=pem,
        scope=scope,
        link_by=link_by,
        authoritative=authoritative,
        acr_map=mapping,
        audience=audience,
        enabled=enabled,
    )


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@idps_group.command("add")
@click.option("--slug", required=True, help="short name used in URLs and idp_hint (e.g. inapas)")
@_spec_options
@json_option
def idps_add(slug: str, as_json: bool, **options: Any) -> None:
    """Add an upstream identity provider."""
    settings = load_settings()
    spec = _build_spec(**options)

    async def op(session: AsyncSession) -> dict[str, Any]:
        row = await _registry().add_upstream(
            session,
            slug,
            spec,
            secret=settings.effective_secret,
            actor=cli_actor(),
            now=int(time.time()),
            addresses=_addresses(settings),
        )
        return _registry().describe(row, settings.effective_secret)

    record = run_in_session(settings, op)
    emit(
        as_json,
        record,
        f"upstream {slug} added ({record['issuer']}); callback {settings.issuer}/auth/broker/{slug}/callback",
    )


@idps_group.command("update")
@click.argument("slug")
@_spec_options
@click.option("--enable/--disable", "enabled", default=None, help="offer it on the sign-in page or not")
@json_option
def idps_update(slug: str, as_json: bool, enabled: bool | None, **options: Any) -> None:
    """Change an upstream identity provider (only the options given)."""
    settings = load_settings()
    spec = _build_spec(**options, enabled=enabled)

    async def op(session: AsyncSession) -> dict[str, Any]:
        row = await _registry().update_upstream(
            session,
            slug,
            spec,
            secret=settings.effective_secret,
            actor=cli_actor(),
            now=int(time.time()),
            addresses=_addresses(settings),
        )
        return _registry().describe(row, settings.effective_secret)

    emit(as_json, run_in_session(settings, op), f"upstream {slug} updated")


@idps_group.command("remove")
@click.argument("slug")
@json_option
def idps_remove(slug: str, as_json: bool) -> None:
    """Remove an upstream identity provider and the identities linked through it."""
    settings = load_settings()

    async def op(session: AsyncSession) -> None:
        await _registry().remove_upstream(session, slug, actor=cli_actor(), now=int(time.time()))

    run_in_session(settings, op)
    emit(as_json, {"removed": slug}, f"upstream {slug} removed")


@idps_group.command("list")
@json_option
def idps_list(as_json: bool) -> None:
    """List the upstream identity providers."""
    settings = load_settings()

    async def op(session: AsyncSession) -> list[dict[str, Any]]:
        registry = _registry()
        return [registry.describe(row, settings.effective_secret) for row in await registry.list_upstreams(session)]

    records = run_in_session(settings, op)
    if as_json:
        emit(True, {"idps": records}, "")
        return
    for record in records:
        state = "enabled" if record["enabled"] else "disabled"
        click.echo(
            f"{record['slug']:<16} {record['name']:<24} {record['issuer']:<40} {record['client_auth']:<20} "
            f"link-by={record['link_by']} for={record['for']} {state}"
        )


def register(group: click.Group) -> None:
    group.add_command(idps_group)
