"""``gerbang --version`` and quick ``--help``: the top-level list and the day-two commands import no heavy module
(SQLAlchemy, authlib, ...), checked in a fresh interpreter rather than timed, so the test cannot flake."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from gateway.cli import COMMAND_HELP, COMMANDS, main

HEAVY = ("sqlalchemy", "authlib", "alembic", "aiohttp", "starlette", "uvicorn", "pydantic", "cryptography", "yaml")
LIGHT_HELP = [
    ["--help"],
    ["--version"],
    ["apply", "--help"],
    ["export", "--help"],
    ["backup", "--help"],
    ["restore", "--help"],
    ["admins", "--help"],
    ["admins", "add", "--help"],
    ["serve", "--help"],
    # the older groups whose modules import their storage and crypto when a command runs
    ["apps", "--help"],
    ["apps", "add", "--help"],
    ["audit", "--help"],
    ["audit", "verify", "--help"],
    ["clients", "--help"],
    ["clients", "add", "--help"],
    ["opd", "--help"],
    ["users", "--help"],
    ["users", "import", "--help"],
    ["demo", "--help"],
    ["db", "--help"],
    ["db", "upgrade", "--help"],
    ["keys", "--help"],
    ["keys", "rotate", "--help"],
    ["keys", "list", "--help"],
    ["dpop", "--help"],
    ["dpop", "proof", "--help"],
    ["pdp", "--help"],
    ["pdp", "breach", "--help"],
    ["pdp", "events", "--help"],
    ["pdp", "purge", "--help"],
    ["policy", "--help"],
    ["policy", "check", "--help"],
    ["policy", "explain", "--help"],
    ["policy", "test", "--help"],
    ["idps", "--help"],
    ["idps", "add", "--help"],
    ["idps", "list", "--help"],
]


def _heavy_modules_after(args: list[str]) -> list[str]:
    code = (
        f"import sys\nfrom gateway.cli import main\ntry:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return eval(done.stderr.strip().splitlines()[-1])  # noqa: S307 - our own printed list


@pytest.mark.parametrize("args", LIGHT_HELP, ids=" ".join)
def test_help_imports_no_heavy_module(args: list[str]) -> None:
    assert _heavy_modules_after(args) == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_of_every_group_answers_help_without_heavy_modules(name: str) -> None:
    """The group's ``--help`` and each of its subcommands' (all in one interpreter: what one loads, stays)."""
    code = (
        "import sys, click\nfrom gateway.cli import main\n"
        f"command = main.get_command(main.make_context('gerbang', [], resilient_parsing=True), {name!r})\n"
        "subs = sorted(command.commands) if isinstance(command, click.Group) else []\n"
        f"for args in [[{name!r}, '--help']] + [[{name!r}, sub, '--help'] for sub in subs]:\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        f"print(len(subs), sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, heavy = done.stderr.strip().splitlines()[-1].split(" ", 1)
    assert eval(heavy) == [], f"{name} ({count} subcommands)"  # noqa: S307 - our own printed list


def test_the_cli_choices_match_their_owners() -> None:
    from gateway.apps import AUTH_MODES, INTEGRITY_MODES
    from gateway.cli import choices
    from gateway.cli.audit import DEFAULT_BATCH
    from idp import clients
    from idp.audit_verify import DEFAULT_BATCH as VERIFY_BATCH
    from idp.org import KINDS

    assert choices.APP_AUTH_MODES == AUTH_MODES and choices.OPD_KINDS == KINDS
    assert choices.APP_INTEGRITY_MODES == INTEGRITY_MODES
    assert choices.GRANT_TYPES == clients.GRANT_TYPES and choices.AUTH_METHODS == clients.AUTH_METHODS
    assert choices.PROFILES == clients.PROFILES and choices.ID_TOKEN_ALGS == clients.ID_TOKEN_ALGS
    assert choices.HUB_CLIENT_IDS == clients.HUB_CLIENT_IDS and DEFAULT_BATCH == VERIFY_BATCH


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("gerbang ") and result.output.strip()[-1].isdigit()


def test_the_static_command_list_matches_each_command() -> None:
    assert set(COMMAND_HELP) == set(COMMANDS)
    ctx = main.make_context("gerbang", [], resilient_parsing=True)
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        assert command is not None and command.get_short_help_str(limit=200) == COMMAND_HELP[name], name


def test_the_event_kinds_spelled_out_for_help_match_the_security_log() -> None:
    from gateway.cli.pdp import EVENT_KINDS
    from idp.security_events import KINDS

    assert EVENT_KINDS == KINDS
