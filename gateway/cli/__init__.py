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


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """Gerbang: the city's single sign-on and API gateway."""
    ctx.ensure_object(dict)


def _register() -> None:
    import importlib

    # One line per command module: `register(group)` adds its commands.
    for name in (
        "apps",
        "audit",
        "db",
        "demo",
        "identity",
        "keys",
        "policy",
        "serve",
    ):
        importlib.import_module(f"gateway.cli.{name}").register(main)


_register()
