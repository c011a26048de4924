"""``gerbang audit verify|export|checkpoint``: the tamper-evident audit log from the command line.

``verify`` exits 0 when the chain is intact, 3 when it finds tampering, 1 when it cannot read.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from gateway.cli import load_settings
from gateway.cli.runtime import emit, json_option, run_in_session

if TYPE_CHECKING:  # storage and crypto load when a command runs, not for --help
    from sqlalchemy.ext.asyncio import AsyncSession

    from gateway.settings import Settings
    from idp.audit_chain import Report, StoredCheckpoint

EXIT_TAMPERED = 3
DEFAULT_BATCH = 2000  # idp.audit_verify.DEFAULT_BATCH (a unit test keeps them equal)
T = TypeVar("T")


@click.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
@click.option(
    "--jsonl",
    "jsonl_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="verify this export offline instead of the database",
)
@click.option(
    "--jwks",
    "jwks_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="trusted public keys (JWKS) for checkpoints, e.g. from `gerbang audit export --keys-output`; "
    "default: the stored keys, authenticated with the hub secret",
)
@click.option(
    "--anchor",
    "anchor_paths",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="checkpoints kept outside the database (tokens one per line, or the JSON log lines of "
    "audit.checkpoint): catches a tail cut together with its checkpoints",
)
@click.option(
    "--batch", default=DEFAULT_BATCH, show_default=True, type=click.IntRange(1, 100_000), help="entries read per query"
)
@json_option
def audit_verify(
    jsonl_path: Path | None, jwks_path: Path | None, anchor_paths: tuple[Path, ...], batch: int, as_json: bool
) -> None:
    """Check the whole chain; report the first entry edited, deleted, inserted or reordered.

    Exit status: 0 intact, 3 tampering found, 1 the chain could not be read.
    """
    from idp.audit_verify import verify_database

    trusted = _read_jwks(jwks_path) if jwks_path is not None else None
    anchors = [anchor for path in anchor_paths for anchor in _read_anchors(path)]
    if jsonl_path is not None:
        report = _verify_export(jsonl_path, trusted, anchors)
    else:
        settings = load_settings()

        async def op(session: AsyncSession) -> Report:
            return await verify_database(
                session, secret=_existing_secret(settings), public_jwks=trusted, anchors=anchors, batch=batch
            )

        report = _run(settings, op)
    emit(as_json, report.as_dict(), report.summary())
    if not report.intact:
        sys.exit(EXIT_TAMPERED)


def _verify_export(path: Path, keys: dict[str, dict[str, Any]] | None, anchors: list[StoredCheckpoint]) -> Report:
    from idp.audit_verify import verify_jsonl

    try:
        return verify_jsonl(path, keys, anchors)
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {path}: {exc}")
    raise AssertionError("unreachable")


def _read_anchors(path: Path) -> list[StoredCheckpoint]:
    from idp.audit_verify import read_anchors

    try:
        return read_anchors(path)
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {path}: {exc}")
    raise AssertionError("unreachable")


def _read_jwks(path: Path) -> dict[str, dict[str, Any]]:
    from idp.audit_verify import jwks_keys

    try:
        return jwks_keys(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, UnicodeDecodeError) as exc:
        _fail(f"{path} is not a JWKS document: {exc}")
    raise AssertionError("unreachable")


def _existing_secret(settings: Settings) -> bytes | None:
    """The hub secret that seals the signing keys, without creating one (``effective_secret`` would)."""
    if settings.secret_key or (settings.data_dir / "secret.key").exists():
        return settings.effective_secret
    return None


@audit_group.command("export")
@click.option("--since", default=1, show_default=True, type=click.IntRange(1), help="first seq to export")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="file to write (default: standard output)",
)
@click.option(
    "--keys-output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="also write every stored public key (JWKS) for verifying checkpoints offline",
)
def audit_export(since: int, output: Path | None, keys_output: Path | None) -> None:
    """Export entries as JSON Lines, one entry per line with its hashes."""
    from idp.audit_verify import export_jsonl, load_public_jwks
    from idp.errors import InvalidInput

    settings = load_settings()

    async def op(session: AsyncSession) -> int:
        if keys_output is not None:
            keys = await load_public_jwks(session, _existing_secret(settings))
            _write_atomically(keys_output, json.dumps({"keys": list(keys.values())}, indent=2) + "\n")
        if output is None:
            return await export_jsonl(session, sys.stdout, since=since)
        partial = output.with_name(output.name + ".partial")
        try:
            with open(partial, "w", encoding="utf-8") as out:  # noqa: ASYNC230 (a CLI: nothing else on this loop)
                count = await export_jsonl(session, out, since=since)
            os.replace(partial, output)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise InvalidInput(f"cannot write {output}: {exc.strerror or exc}") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return count

    count = _run(settings, op)
    if output is not None:
        click.echo(f"exported {count} entries to {output}", err=True)


@audit_group.command("checkpoint")
@json_option
def audit_checkpoint(as_json: bool) -> None:
    """Sign the chain's head now (checkpoints are also written every GERBANG_AUDIT_CHECKPOINT_EVERY entries)."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from idp.audit import write_checkpoint
    from idp.clock import SystemClock
    from idp.errors import InvalidInput
    from idp.keys import KeyRing
    from idp.logging import configure_logging

    settings = load_settings()
    configure_logging(json=True, level="warning")  # the checkpoint's log line would mix into this output

    async def op(session: AsyncSession) -> dict[str, Any] | None:
        keys = KeyRing(
            async_sessionmaker(session.bind, expire_on_commit=False),
            settings.effective_secret,
            settings.signing_alg,
            SystemClock(),
        )
        await keys.load(create_if_missing=False)
        try:
            _ = keys.active  # raises when no key was ever made
        except RuntimeError:
            raise InvalidInput("there is no signing key yet: run `gerbang keys rotate` first") from None
        checkpoint = await write_checkpoint(session, keys, issuer=settings.issuer, now=int(time.time()))
        if checkpoint is None:
            return None
        return {"seq": checkpoint.seq, "hash": checkpoint.hash, "kid": checkpoint.kid, "token": checkpoint.token}

    record = _run(settings, op)
    if record is None:
        emit(as_json, {"seq": None}, "nothing to checkpoint: the chain is empty or its head is a checkpoint")
        return
    emit(as_json, record, f"checkpoint over seq {record['seq']} (hash {record['hash'][:16]}, key {record['kid']})")


def _run(settings: Settings, operation: Callable[[AsyncSession], Awaitable[T]]) -> T:
    try:
        return run_in_session(settings, operation)
    except (ConnectionError, socket.gaierror, TimeoutError) as exc:  # asyncpg's are not wrapped in DBAPI errors
        _fail(f"the database is not reachable: {exc}")
    raise AssertionError("unreachable")


def _write_atomically(path: Path, content: str) -> None:
    from idp.errors import InvalidInput

    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(content, encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from exc


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def register(group: click.Group) -> None:
    group.add_command(audit_group)
