"""``gerbang admins add|list``: Kominfo administrators (role ``kominfo-admin`` in the ``diskominfo`` unit).

The roles, from widest to narrowest (``gateway.admin.actor``):

- ``kominfo-admin`` (in ``diskominfo``): everything — approve and suspend apps, clients, keys, the audit log,
  every OPD unit and user.
- ``opd-admin`` (in a unit): the users, apps, clients and operators of that unit and every unit under it.
- ``operator`` (in a unit): submit apps for that unit (not its children) and read them.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import click

from gateway.cli import load_settings
from gateway.cli.actor import cli_actor
from gateway.cli.runtime import emit, json_option, run_in_session

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

KOMINFO_UNIT = "diskominfo"
KOMINFO_ADMIN = "kominfo-admin"


@click.group("admins")
def admins_group() -> None:
    """Kominfo administrators of the console and the admin API."""


@admins_group.command("add")
@click.option("--email", required=True)
@click.option("--name", default=None, help="needed when the account does not exist yet")
@click.option("--password-stdin", is_flag=True, help="read a password for a new account from standard input")
@json_option
def admins_add(email: str, name: str | None, password_stdin: bool, as_json: bool) -> None:
    """Make an account a Kominfo administrator (creating it when needed; the unit `diskominfo` must exist).

    A new account without --password-stdin sets its password through "forgot password" on the sign-in page.
    The console asks administrators for a second factor (acr 2), so they enrol one at /account first."""
    from sqlalchemy import select

    from idp.account_edits import role_pairs, set_roles
    from idp.accounts import add_user, check_password_rules
    from idp.audit import append_audit
    from idp.errors import InvalidInput
    from idp.org import load_opd
    from idp.passwords import hash_sync
    from idp.storage.models import User

    settings = load_settings()
    password_hash = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        try:
            check_password_rules(password)
        except InvalidInput as exc:
            raise click.ClickException(exc.message) from exc
        password_hash = hash_sync(password)

    async def op(session: AsyncSession) -> dict[str, Any]:
        now, actor = int(time.time()), cli_actor()
        await load_opd(session, KOMINFO_UNIT)
        user = await session.scalar(select(User).where(User.email == email.strip().lower()))
        created = user is None
        if user is None:
            if not name:
                raise InvalidInput(f"there is no account {email} yet: give its --name to create it")
            user = await add_user(session, email=email, name=name, password_hash=password_hash, now=now)
            await append_audit(
                session,
                actor=actor,
                action="user.create",
                target=f"user:{user.id}",
                detail={"email": user.email, "password_set": password_hash is not None},
                now=now,
            )
        pairs = await role_pairs(session, user.id)
        if (KOMINFO_UNIT, KOMINFO_ADMIN) not in pairs:
            await set_roles(session, user, [*pairs, (KOMINFO_UNIT, KOMINFO_ADMIN)], actor=actor, now=now)
        return {"id": user.id, "email": user.email, "created": created}

    record = run_in_session(settings, op)
    emit(
        as_json,
        record,
        f"{record['email']} is a Kominfo administrator" + (" (new account)" if record["created"] else ""),
    )


@admins_group.command("list")
@json_option
def admins_list(as_json: bool) -> None:
    """List Kominfo administrators."""
    from sqlalchemy import select

    from idp.storage.models import Membership, OpdUnit, User

    settings = load_settings()

    async def op(session: AsyncSession) -> list[dict[str, Any]]:
        rows = await session.execute(
            select(User.email, User.name, User.disabled)
            .join(Membership, Membership.user_id == User.id)
            .join(OpdUnit, Membership.opd_id == OpdUnit.id)
            .where(OpdUnit.slug == KOMINFO_UNIT, Membership.role == KOMINFO_ADMIN)
            .order_by(User.email)
        )
        return [{"email": e, "name": n, "disabled": d} for e, n, d in rows.all()]

    admins = run_in_session(settings, op)
    if as_json:
        emit(True, {"admins": admins}, "")
        return
    for admin in admins:
        click.echo(f"{admin['email']:<40} {admin['name']}" + ("  (disabled)" if admin["disabled"] else ""))


def register(group: click.Group) -> None:
    group.add_command(admins_group)
