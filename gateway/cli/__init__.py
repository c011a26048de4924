"""The ``gerbang`` command: one console script, a group of noun subcommands.

Every command that creates something takes ``--json`` and then prints exactly one JSON object.
"""

from __future__ import annotations

import sys

import click
from pydantic import ValidationError

from gateway.settings import Settings


def load_settings() -> Settings:
    """Build the settings once; report every configuration problem together and exit 2."""
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
    "apps": "apps", "audit": "audit", "clients": "identity", "db": "db", "demo": "demo", "keys": "keys",
    "opd": "identity", "policy": "policy", "serve": "serve", "users": "identity",
    # day-two operations (configuration as code, administrators, backups)
    "admins": "admins", "apply": "config_code", "export": "config_code", "backup": "backup", "restore": "backup",
}


class LazyGroup(click.Group):
    """click's lazily loading group: ``get_command`` imports the one module a command lives in."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            import importlib

            importlib.import_module(f"gateway.cli.{COMMANDS[cmd_name]}").register(self)
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Gerbang: the city's single sign-on and API gateway."""
    ctx.ensure_object(dict)
