"""The ``gerbang`` command: one console script, a group of noun subcommands.

Every command that creates something takes ``--json`` and then prints exactly one JSON object.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # pydantic and the settings load when a command runs, not for --help or --version
    from gateway.settings import Settings


def load_settings() -> Settings:
    """Build the settings once; report every configuration problem together and exit 2."""
    from pydantic import ValidationError

    from gateway.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        click.echo("Gerbang cannot start: the configuration has problems:", err=True)
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            click.echo(f"  - {where}: {error['msg']}", err=True)
        sys.exit(2)


# Command name -> the module whose ``register(group)`` adds it. A command's module is imported only when
# that command runs (or ``--help`` lists them all): ``gerbang serve`` runs the hub in this very process, so
# whatever the other commands import (alembic, the demo, QR codes...) would otherwise stay in every worker.
COMMANDS = {
    "apps": "apps",
    "audit": "audit",
    "clients": "identity",
    "db": "db",
    "demo": "demo",
    "dpop": "dpop",
    "idps": "idps",
    "keys": "keys",
    "opd": "identity",
    "pdp": "pdp",
    "policy": "policy",
    "serve": "serve",
    "users": "identity",
    # day-two operations (configuration as code, administrators, backups)
    "admins": "admins",
    "apply": "config_code",
    "export": "config_code",
    "backup": "backup",
    "restore": "backup",
    "ledger": "ledger",
}


# ``gerbang --help`` lists these without importing any command's module (a test keeps them in step).
COMMAND_HELP = {
    "admins": "Kominfo administrators of the console and the admin API.",
    "apply": "Make the OPD tree, clients, apps, staff roles, Kominfo admins and upstream OPs match the YAML files.",
    "apps": "OPD apps behind the gateway.",
    "audit": "The tamper-evident audit log.",
    "backup": "Write a consistent snapshot of the database (signing keys still encrypted) and the policy directory.",
    "clients": "OAuth clients (relying parties and integrations).",
    "db": "Database schema.",
    "demo": "Run a seeded demo city: the provider, the gateway and sample OPD apps on loopback.",
    "dpop": "DPoP proofs and DPoP-bound tokens for shell integrations (RFC 9449).",
    "export": "Write the OPD tree, clients, apps, staff roles and upstream OPs as YAML that `gerbang apply` reads.",
    "idps": "Upstream OpenID providers (INApas, SSO ASN) citizens and staff may sign in with.",
    "keys": "Hub signing keys.",
    "ledger": "The receipts ledger of signed requests (integrity ledger apps).",
    "opd": "OPD units (the city's organisation tree).",
    "pdp": "Personal data protection (UU PDP): breach notices, processing register, retention.",
    "policy": "Access policies: validate, explain a decision, run the policy tests.",
    "restore": "Restore a backup onto an EMPTY database, then run `gerbang audit verify`.",
    "serve": "Run the hub (provider, gateway, console) from settings.",
    "users": "Citizens and civil servants.",
}


class LazyGroup(click.Group):
    """click's lazily loading group: ``get_command`` imports the one module a command lives in."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from ``COMMAND_HELP``: ``--help`` imports no command module."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMAND_HELP.get(name, "")) for name in self.list_commands(ctx)])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            import importlib

            importlib.import_module(f"gateway.cli.{COMMANDS[cmd_name]}").register(self)
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup)
@click.version_option(package_name="gerbang", prog_name="gerbang", message="%(prog)s %(version)s")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Gerbang: the city's single sign-on and API gateway."""
    ctx.ensure_object(dict)
