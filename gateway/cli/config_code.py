"""``gerbang apply FILE... [--dry-run]`` and ``gerbang export``: the city's set-up as YAML kept in git.

``apply`` makes the database match the files (creating and updating, never deleting) in one audited
transaction and says "nothing to change" when it already does; ``export`` writes the current state in the
same format, so export → apply on an empty database reproduces it. Client secrets are never in a file: those
of clients created by ``apply`` are printed once, or written to the file named by ``--secrets-file``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gateway.cli import load_settings
from gateway.cli.actor import cli_actor
from gateway.cli.runtime import cli_profile_guard, json_option, run_in_session

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


@click.command("apply")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="print what would change and change nothing")
@click.option(
    "--secrets-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write the secrets of clients created now to this file (JSON, mode 0600) instead of printing",
)
@json_option
def apply_command(paths: tuple[Path, ...], dry_run: bool, secrets_file: Path | None, as_json: bool) -> None:
    """Make the OPD tree, clients, apps, staff roles, Kominfo admins and upstream OPs match the YAML files."""
    from gateway.city_config.apply import ApplyContext, apply_plan
    from gateway.city_config.document import load_config
    from gateway.city_config.plan import Change, build_plan
    from gateway.city_config.state import read_state
    from idp.upstream_addresses import build_upstream_addresses

    settings = load_settings()
    context = ApplyContext(
        issuer=settings.issuer,
        actor=cli_actor(),
        now=int(time.time()),
        profiles=cli_profile_guard(settings),
        addresses=build_upstream_addresses(settings),
        apps_domain=settings.apps_domain,
        secret=settings.effective_secret,
        environ=dict(os.environ),
    )

    async def op(session: AsyncSession) -> list[Change]:
        desired = load_config(list(paths))
        emails = frozenset(user.email.lower() for user in desired.merged_users())
        plan = build_plan(desired, await read_state(session, emails))
        if not dry_run:
            await apply_plan(session, plan, context)
        return plan

    if secrets_file is not None and secrets_file.exists():
        raise click.ClickException(f"{secrets_file} exists; name a new file for the secrets")
    plan = run_in_session(settings, op)
    if context.secrets and secrets_file is not None:
        _write_private(secrets_file, json.dumps(context.secrets, indent=2) + "\n")
    if as_json:
        click.echo(
            json.dumps(
                {
                    "dry_run": dry_run,
                    "changed": bool(plan) and not dry_run,
                    "changes": [
                        {"section": c.section, "key": c.key, "action": c.action, "values": c.values} for c in plan
                    ],
                    "secrets": {} if secrets_file else context.secrets,
                },
                ensure_ascii=False,
            )
        )
        return
    for change in plan:
        click.echo(change.describe())
    if not plan:
        click.echo("nothing to change: the database already matches the files")
    elif dry_run:
        click.echo(f"{len(plan)} change(s) planned (dry run: nothing was changed)")
    else:
        click.echo(f"{len(plan)} change(s) applied")
    _print_secrets(context.secrets, secrets_file)


def _print_secrets(secrets: dict[str, str], secrets_file: Path | None) -> None:
    if not secrets:
        return
    if secrets_file is not None:
        click.echo(f"secrets of {len(secrets)} new client(s) written to {secrets_file}")
        return
    click.echo("secrets of the clients created now (shown once, never stored):")
    for client_id, secret in secrets.items():
        click.echo(f"  {client_id}: {secret}")


def _write_private(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)


@click.command("export")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="file to write (default: standard output)",
)
def export_command(output: Path | None) -> None:
    """Write the OPD tree, clients, apps, staff roles and upstream OPs as YAML that `gerbang apply` reads."""
    from gateway.city_config.document import dump_config
    from gateway.city_config.state import read_state

    settings = load_settings()

    async def op(session: AsyncSession) -> str:
        return dump_config(await read_state(session))

    text = run_in_session(settings, op)
    if output is None:
        click.echo(text, nl=False)
        return
    partial = output.with_name(output.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, output)
    click.echo(f"exported to {output}", err=True)


def register(group: click.Group) -> None:
    group.add_command(apply_command)
    group.add_command(export_command)
