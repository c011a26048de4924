"""``gerbang keys rotate|list``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from gateway.cli import load_settings
from gateway.cli.actor import cli_actor
from gateway.cli.runtime import emit, json_option, run_in_session

if TYPE_CHECKING:  # storage and crypto load when a command runs, not for --help
    from sqlalchemy.ext.asyncio import AsyncSession

    from idp.storage.models import SigningKey


@click.group("keys")
def keys_group() -> None:
    """Hub signing keys."""


@keys_group.command("rotate")
@click.option("--alg", type=click.Choice(["ES256", "RS256"]), default=None, help="default: GERBANG_SIGNING_ALG")
@json_option
def keys_rotate(alg: str | None, as_json: bool) -> None:
    """Add the next signing key: published at once, signing after GERBANG_KEY_ACTIVATION_DELAY seconds (relying
    parties that cache the JWKS learn it first); the old one signs until then and keeps verifying until retired."""
    from idp.key_rotation import rotate_signing_key

    settings = load_settings()

    async def op(session: AsyncSession) -> SigningKey:
        now = int(time.time())
        return await rotate_signing_key(session, settings, actor=cli_actor(), now=now, alg=alg)

    key = run_in_session(settings, op)
    emit(
        as_json,
        {"kid": key.kid, "alg": key.alg, "created_at": key.created_at, "activates_at": key.activates_at},
        f"new signing key {key.kid} ({key.alg}): published now, signing from {key.activates_at or key.created_at}",
    )


@keys_group.command("revoke")
@click.argument("kid")
@json_option
def keys_revoke(kid: str, as_json: bool) -> None:
    """Stop trusting a key now (it may have leaked); the active one is replaced first."""
    from idp.key_rotation import revoke_signing_key

    settings = load_settings()

    async def op(session: AsyncSession) -> SigningKey | None:
        return await revoke_signing_key(session, settings, kid=kid, actor=cli_actor(), now=int(time.time()))

    replacement = run_in_session(settings, op)
    emit(
        as_json,
        {"revoked": kid, "new_kid": replacement.kid if replacement else None},
        f"signing key {kid} revoked" + (f"; new signing key {replacement.kid}" if replacement else ""),
    )


@keys_group.command("list")
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="also the per-algorithm ID token keys (PS256, RS256, EdDSA) and the message-signing key (RFC 9421)",
)
@json_option
def keys_list(show_all: bool, as_json: bool) -> None:
    """List signing keys and their state."""
    from sqlalchemy import select

    from idp.keys import HTTP_MESSAGE
    from idp.storage.models import SigningKey

    settings = load_settings()

    async def op(session: AsyncSession) -> list[SigningKey]:
        return list((await session.scalars(select(SigningKey).order_by(SigningKey.created_at))).all())

    now = int(time.time())
    rows = [
        row
        for row in run_in_session(settings, op)
        if show_all or not (row.id_token_only or row.purpose == HTTP_MESSAGE)
    ]
    records = [
        {
            "kid": k.kid,
            "alg": k.alg,
            "created_at": k.created_at,
            "state": _state(k, now),
            **({"purpose": _purpose(k)} if show_all else {}),
        }
        for k in rows
    ]
    if as_json:
        emit(True, {"keys": records}, "")
        return
    for record in records:
        click.echo(f"{record['kid']:<18} {record['alg']:<6} {record['state']}")


STATE_WORDS = {
    "expired": "expired (verifies nothing)",
    "next": "next (published, not signing yet)",
    "active": "active",
    "retired": "retired (still verifies)",
}


def _state(key: SigningKey, now: int) -> str:
    from idp.keys import key_state

    return STATE_WORDS[key_state(key, now)]


def register(group: click.Group) -> None:
    group.add_command(keys_group)


def _purpose(key: SigningKey) -> str:
    from idp.keys import HTTP_MESSAGE

    if key.purpose == HTTP_MESSAGE:
        return "http-message"  # RFC 9421 request signatures (docs/integrity.md)
    return "id_token" if key.id_token_only else "signing"
