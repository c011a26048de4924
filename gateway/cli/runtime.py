"""Running one async storage operation from a CLI command, with errors rendered for people."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:  # imported when a command runs, not for its --help
    from sqlalchemy.ext.asyncio import AsyncSession

    from gateway.settings import Settings
    from idp.profile_rule import ProfileGuard

T = TypeVar("T")


def run_in_session(settings: Settings, operation: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``operation`` in one transaction; a GerbangError becomes a message and exit code 1."""
    from sqlalchemy.exc import OperationalError

    from idp.errors import GerbangError
    from idp.storage.db import build_engine, build_sessionmaker

    async def _main() -> T:
        engine = build_engine(settings.effective_database_url)
        try:
            async with build_sessionmaker(engine)() as session, session.begin():
                return await operation(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(_main())
    except GerbangError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    except OperationalError as exc:
        click.echo(
            f"error: the database is not reachable or not migrated (run `gerbang db upgrade`): {exc.orig}", err=True
        )
        sys.exit(1)


def emit(as_json: bool, record: dict[str, Any], human: str) -> None:
    click.echo(json.dumps(record, ensure_ascii=False) if as_json else human)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="print one JSON object")(func)


def cli_profile_guard(settings: Settings) -> ProfileGuard:
    """Kominfo's profile rule as the running hub sees it: the policy directory of the settings (or the shipped
    set), loaded once for the command; an invalid directory stops the command (nothing is written unchecked)."""
    from idp.profile_rule import ProfileGuard
    from policies import DEFAULT_POLICY_DIR, PolicyError, load_policy_dir

    directory = settings.policy_dir or DEFAULT_POLICY_DIR
    try:
        policy = load_policy_dir(directory)
    except PolicyError as exc:
        click.echo(f"error: the policy directory {directory} is invalid ({len(exc.problems)} problem(s)):", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    return ProfileGuard(lambda: policy, settings.issuer, settings.apps_domain)
