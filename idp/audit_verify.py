"""Verifying and exporting the audit chain: from the database in batches, or from a JSON Lines export.

Both read in bounded memory: the database by keyset pages of ``batch`` rows (``seq > last``,
on the primary key), an export line by line. An export line is one entry with its hashes
(``seq, at, actor, action, target, detail, prev_hash, hash``), so anyone can re-verify it with
``verify_jsonl`` and the hub's public keys, without the database.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from cryptography.exceptions import InvalidTag
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.audit import CHECKPOINT_ACTION, EntryFields
from idp.audit_chain import ChainVerifier, CheckpointInvalid, Fault, Report, StoredCheckpoint, read_checkpoint_token
from idp.keys import decrypt_private_key, public_jwk
from idp.storage.models import AuditCheckpoint, AuditEntry, SigningKey

DEFAULT_BATCH = 2000
_FIELDS: dict[str, type] = {
    "seq": int,
    "at": int,
    "actor": str,
    "action": str,
    "target": str,
    "detail": dict,
    "prev_hash": str,
    "hash": str,
}


async def iter_entries(session: AsyncSession, since: int = 1, batch: int = DEFAULT_BATCH) -> AsyncIterator[EntryFields]:
    """Entries from ``since`` on, in seq order, ``batch`` rows per query (rows, not ORM objects:
    the session's identity map would otherwise keep every entry alive)."""
    table = AuditEntry.__table__
    columns = [table.c[name] for name in _FIELDS]
    after = since - 1
    while True:
        rows = (
            await session.execute(select(*columns).where(table.c.seq > after).order_by(table.c.seq).limit(batch))
        ).all()
        for row in rows:
            yield EntryFields(**row._mapping)
        if len(rows) < batch:
            return
        after = rows[-1].seq


async def load_public_jwks(session: AsyncSession, secret: bytes | None = None) -> dict[str, dict[str, Any]]:
    """Every stored key's public JWK, retired and expired ones too: old checkpoints name them.

    With the hub's secret, only keys whose sealed private key opens under it and matches the
    public JWK are returned: someone who can write the table but lacks the secret cannot add a
    key of their own and re-sign checkpoints over a rewritten chain.
    """
    rows = await session.execute(select(SigningKey.kid, SigningKey.alg, SigningKey.public_jwk, SigningKey.private_key))
    return {
        kid: jwk for kid, alg, jwk, sealed in rows if secret is None or is_key_authentic(kid, alg, jwk, sealed, secret)
    }


def is_key_authentic(kid: str, alg: str, jwk: dict[str, Any], sealed: str, secret: bytes) -> bool:
    try:
        private_key = decrypt_private_key(sealed, secret, kid)
    except (InvalidTag, ValueError, TypeError):
        return False
    derived = public_jwk(private_key, kid, alg)
    return all(jwk.get(name) == value for name, value in derived.items())


async def load_stored_checkpoints(session: AsyncSession) -> list[StoredCheckpoint]:
    rows = await session.execute(
        select(AuditCheckpoint.seq, AuditCheckpoint.hash, AuditCheckpoint.token).order_by(AuditCheckpoint.seq)
    )
    return [StoredCheckpoint(seq, head_hash, token) for seq, head_hash, token in rows]


async def verify_database(
    session: AsyncSession,
    *,
    secret: bytes | None = None,
    public_jwks: Mapping[str, dict[str, Any]] | None = None,
    anchors: Sequence[StoredCheckpoint] = (),
    batch: int = DEFAULT_BATCH,
) -> Report:
    """Check the whole chain and every stored checkpoint, and the ``anchors`` kept outside the database.

    Checkpoints are checked against ``public_jwks`` when given (keys the verifier trusts from
    elsewhere), else against the stored keys, authenticated with ``secret`` when given.
    """
    keys = public_jwks if public_jwks is not None else await load_public_jwks(session, secret)
    verifier = ChainVerifier(keys, [*await load_stored_checkpoints(session), *anchors], track_unmatched=True)
    async for entry in iter_entries(session, batch=batch):
        if not verifier.feed(entry):
            break
    report = verifier.finish()
    report.keys = "given" if public_jwks is not None else "authenticated" if secret is not None else "unauthenticated"
    # Checkpoints written while we walked were not in the set loaded first: look those up now.
    for entry_seq, head in verifier.unmatched:
        stored_hash = await session.scalar(select(AuditCheckpoint.hash).where(AuditCheckpoint.seq == head.seq))
        if stored_hash != head.hash:
            report.faults.append(
                Fault(
                    entry_seq,
                    "checkpoint-missing",
                    f"the checkpoint at seq {entry_seq} has no matching record in "
                    f"audit_checkpoints (deleted or edited)",
                )
            )
    return report


async def export_jsonl(session: AsyncSession, out: TextIO, since: int = 1, batch: int = DEFAULT_BATCH) -> int:
    """Write entries from ``since`` on as JSON Lines; returns how many were written."""
    count = 0
    async for entry in iter_entries(session, since=since, batch=batch):
        out.write(json.dumps(entry.as_record(), ensure_ascii=False, sort_keys=True, separators=(",", ":")))
        out.write("\n")
        count += 1
    return count


def verify_jsonl(
    path: Path | str, public_jwks: Mapping[str, dict[str, Any]] | None = None, anchors: Sequence[StoredCheckpoint] = ()
) -> Report:
    """Check an export offline. Without public keys, checkpoint signatures are counted as not checked.

    An export that starts after seq 1 (``--since``) is anchored at its first line.
    """
    verifier: ChainVerifier | None = None
    keys_source = "none" if public_jwks is None else "given"
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            if verifier is None:
                verifier = ChainVerifier(public_jwks, anchors, start=None)
            entry = _parse_line(line)
            if isinstance(entry, str):
                expected = verifier.report.last_seq + 1
                verifier.report.faults.append(Fault(expected, "malformed", f"line {number}: {entry}"))
                break
            if not verifier.feed(entry):
                _name_moved_entry(verifier.report, lines)
                break
    report = verifier.finish() if verifier is not None else Report()
    report.keys = keys_source
    return report


def _name_moved_entry(report: Report, rest: Iterator[str]) -> None:
    """A seq missing at its place that turns up further down the export was moved, not deleted."""
    fault = report.faults[-1]
    if fault.kind != "deleted":
        return
    for line in rest:
        entry = _parse_line(line)
        if not isinstance(entry, str) and entry.seq == fault.seq:
            report.faults[-1] = Fault(
                fault.seq, "reordered", f"seq {fault.seq} is not in its place: the export has it after later entries"
            )
            return


def read_anchors(path: Path | str) -> list[StoredCheckpoint]:
    """Checkpoints kept outside the database: one token per line, or the JSON log lines that
    ``write_checkpoint`` logs (event ``audit.checkpoint``); other lines are skipped."""
    anchors = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            token = line.strip()
            if token.startswith("{"):
                try:
                    record = json.loads(token)
                except json.JSONDecodeError:
                    continue
                token = record.get("token", "") if record.get("event") == CHECKPOINT_ACTION else ""
            try:
                head = read_checkpoint_token(token, None)
            except CheckpointInvalid:
                continue
            anchors.append(StoredCheckpoint(head.seq, head.hash, token))
    return anchors


def jwks_keys(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``{"keys": [...]}`` JWKS document as kid → JWK."""
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise ValueError("a JWKS document must hold a 'keys' list")
    return {jwk["kid"]: jwk for jwk in keys if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str)}


def _parse_line(line: str) -> EntryFields | str:
    """The entry on one line, or why it is not one."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg})"
    if not isinstance(record, dict):
        return "not a JSON object"
    for name, kind in _FIELDS.items():
        value = record.get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"field '{name}' is missing or not a {kind.__name__}"
    return EntryFields(**{name: record[name] for name in _FIELDS})
