"""Every command the ``gerbang`` group lists resolves to itself, and ``serve`` loads nothing else's module."""

from __future__ import annotations

import os
import subprocess
import sys

from click.testing import CliRunner

from gateway.cli import COMMANDS, main


def test_every_listed_command_resolves_to_a_command_of_that_name() -> None:
    ctx = main.make_context("gerbang", [], resilient_parsing=True)
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        assert command is not None and command.name == name


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_serve_does_not_import_the_other_commands() -> None:
    """The hub runs inside the ``serve`` process: the demo, alembic and QR code modules stay out of it."""
    code = (
        "import sys; from gateway.cli import main; "
        "main.get_command(main.make_context('gerbang', [], resilient_parsing=True), 'serve'); "
        "print(sorted(m for m in sys.modules if m.startswith('gateway.cli.') or m.split('.')[0] in "
        "('alembic', 'qrcode', 'mako')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['gateway.cli.serve']"


def test_serve_caps_malloc_arenas_unless_the_operator_chose() -> None:
    """In a fresh process: the cap goes into the environment the workers inherit and into glibc now;
    an operator's own MALLOC_ARENA_MAX is kept."""
    probe = (
        "import os; from gateway.cli.serve import limit_malloc_arenas; "
        "print(limit_malloc_arenas(), os.environ['MALLOC_ARENA_MAX'])"
    )
    env = {key: value for key, value in os.environ.items() if key != "MALLOC_ARENA_MAX"}
    default = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert default.stdout.split() == ["True", "2"]
    chosen = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env={**env, "MALLOC_ARENA_MAX": "4"}, check=True
    )
    assert chosen.stdout.split() == ["True", "4"]
