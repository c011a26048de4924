"""``gerbang pdp breach|register|purge``: Kominfo's duties under UU PDP from the command line."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from typing import TYPE_CHECKING, Any

import click

from gateway.cli import load_settings
from gateway.cli.actor import cli_actor
from gateway.cli.runtime import run_in_session

if TYPE_CHECKING:  # storage, mail and the PDP workflows load when a command runs, not for --help
    from gateway.settings import Settings
    from idp.pdp.breach import Incident

# idp.security_events.KINDS, spelled out so --help imports nothing heavy (tests/unit/test_cli_help.py compares).
EVENT_KINDS = (
    "login.succeeded",
    "login.failed",
    "login.locked",
    "mfa.changed",
    "password.reset",
    "token.revoked",
    "client.auth_failed",
    "account.deletion",
)


def parse_time(value: str) -> int:
    """UNIX seconds, or ISO 8601 (a time without a zone is Asia/Jakarta, WIB)."""
    if value.isdigit():
        return int(value)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"not a time: {value!r} (ISO 8601 or UNIX seconds)") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone(dt.timedelta(hours=7)))
    return int(parsed.timestamp())


@click.group("pdp")
def pdp_group() -> None:
    """Personal data protection (UU PDP): breach notices, processing register, retention."""


@pdp_group.command("breach")
@click.option("--app", "app_slug", required=True, help="the app's slug")
@click.option("--since", required=True, help="start of the window (ISO 8601 or UNIX seconds)")
@click.option("--until", default=None, help="end of the window (default: now)")
@click.option("--send", is_flag=True, help="send the notices (without it: list and draft only)")
@click.option("--contact", default="Diskominfo Kota Palembang, pdp@palembang.go.id", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def breach(app_slug: str, since: str, until: str | None, send: bool, contact: str, as_json: bool) -> None:
    """People whose identity APP received in the window; with --send, notify them and record the incident."""
    from idp.pdp.breach import draft_notice, load_incident

    settings = load_settings()
    start, end = parse_time(since), parse_time(until) if until else int(time.time())
    if end <= start:
        raise click.BadParameter("--until must be after --since")

    async def op(session: Any) -> Incident:
        try:
            return await load_incident(session, app_slug, start, end)
        except LookupError:
            raise click.ClickException(f"no app '{app_slug}'") from None

    incident = run_in_session(settings, op)
    record: dict[str, Any] = {
        "app": incident.app,
        "since": start,
        "until": end,
        "affected": [
            {"id": p.user_id, "name": p.name, "email": p.email, "claims": p.claims} for p in incident.affected
        ],
    }
    if incident.affected:
        record["draft"] = dict(
            zip(("subject", "body"), draft_notice(incident, incident.affected[0], contact), strict=True)
        )
    if send:
        record["sent"] = asyncio.run(_send(settings, incident, contact))
    if as_json:
        click.echo(json.dumps(record, ensure_ascii=False))
        return
    click.echo(f"{len(incident.affected)} people received by {incident.app_name} in the window:")
    for person in incident.affected:
        received = "not recorded" if person.claims is None else " ".join(person.claims) or "account id only"
        click.echo(f"  {person.email}  {person.name}  ({received})")
    if "draft" in record:
        click.echo("\n--- draft notice ---\n" + record["draft"]["subject"] + "\n\n" + record["draft"]["body"])
    if send:
        click.echo(
            f"sent {record['sent']['notified']} notice(s), {record['sent']['failed']} failed; recorded in the audit log"
        )
    else:
        click.echo("nothing sent: run again with --send to notify them")


async def _send(settings: Settings, incident: Incident, contact: str) -> dict[str, Any]:
    from idp.mail import Mailer
    from idp.pdp.breach import send_notices
    from idp.storage.db import build_engine, build_sessionmaker

    engine = build_engine(settings.effective_database_url)
    try:
        mailer = Mailer(settings.mail_from, settings.smtp_url, settings.effective_mail_outbox)
        return await send_notices(
            build_sessionmaker(engine), mailer, incident, actor=cli_actor(), contact=contact, now=int(time.time())
        )
    finally:
        await engine.dispose()


@pdp_group.command("register")
def register_export() -> None:
    """The processing register as JSON Lines (one app a line; "flagged": no purpose filled in)."""
    from idp.pdp.register import load_register

    settings = load_settings()
    for entry in run_in_session(settings, load_register):
        click.echo(json.dumps(entry, ensure_ascii=False, sort_keys=True))


@pdp_group.command("events")
@click.option("--kind", type=click.Choice(EVENT_KINDS), default=None)
@click.option("--user", "user_id", default=None, help="an account id")
@click.option("--client", "client_id", default=None)
@click.option("--since", default=None, help="ISO 8601 or UNIX seconds")
@click.option("--until", default=None, help="ISO 8601 or UNIX seconds")
def events(kind: str | None, user_id: str | None, client_id: str | None, since: str | None, until: str | None) -> None:
    """The security event log as JSON Lines, oldest first."""
    from idp.security_events import EventFilter, export_security_events

    settings = load_settings()
    where = EventFilter(
        kind=kind,
        user_id=user_id,
        client_id=client_id,
        since=parse_time(since) if since else None,
        until=parse_time(until) if until else None,
    )

    async def op(session: Any) -> list[str]:
        return [line async for line in export_security_events(session, where)]

    for line in run_in_session(settings, op):
        click.echo(line, nl=False)


@pdp_group.command("purge")
def purge() -> None:
    """Run the scheduled erasure and retention purge once now (if no other instance is running it)."""
    settings = load_settings()

    from idp.clock import SystemClock
    from idp.pdp.jobs import PdpJobs, Retention
    from idp.storage.db import build_engine, build_sessionmaker

    async def main() -> dict[str, Any]:
        engine = build_engine(settings.effective_database_url)
        try:
            jobs = PdpJobs(
                build_sessionmaker(engine),
                SystemClock(),
                Retention(
                    settings.access_history_retention_days,
                    settings.security_event_retention_days,
                    settings.inactive_account_retention_days,
                ),
                every=settings.pdp_job_seconds,
            )
            return (await jobs.run_once()).__dict__
        finally:
            await engine.dispose()

    click.echo(json.dumps(asyncio.run(main())))


def register(group: click.Group) -> None:
    group.add_command(pdp_group)
