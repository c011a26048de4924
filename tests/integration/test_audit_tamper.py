"""`gerbang audit verify` against a real database tampered with through SQL, on SQLite and PostgreSQL.

Every test seeds the same chain (see ``seed_chain``): entries 1-4, a checkpoint over 4 at seq 5,
6-9, a checkpoint over 9 at seq 10, then 11 and 12.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import insert

from gateway.cli.audit import EXIT_TAMPERED
from idp.audit import CHECKPOINT_TYP, entry_hash
from idp.keys import generate_key, public_jwk
from tests.support.audit import cli_env, read_chain, rewrite_chain_from, run_sql, seed_chain, verify_json


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    import asyncio

    asyncio.run(seed_chain(database_url))
    return cli_env(database_url, str(tmp_path / "data"))


def _fault(report: dict[str, Any]) -> tuple[int, str]:
    return report["fault"]["seq"], report["fault"]["kind"]


def test_untouched_chain_is_intact(env: dict[str, str]) -> None:
    code, report = verify_json(env)
    assert code == 0
    assert (report["intact"], report["entries"], report["checkpoints"], report["last_seq"]) == (True, 12, 2, 12)


def test_human_summary_names_counts(env: dict[str, str]) -> None:
    from tests.support.audit import gerbang

    result = gerbang(env, "audit", "verify")
    assert result.exit_code == 0
    assert result.stdout.startswith("12 entries, 2 checkpoints, chain intact")


def test_edited_detail_is_named(env: dict[str, str], database_url: str) -> None:
    run_sql(
        database_url,
        """UPDATE audit_log SET detail = '{"n": 6, "name": "Budi", "roles": ["operator"]}'
                             WHERE seq = 7""",
    )
    code, report = verify_json(env)
    assert code == EXIT_TAMPERED
    assert _fault(report) == (7, "edited")


def test_edited_actor_is_named(env: dict[str, str], database_url: str) -> None:
    run_sql(database_url, "UPDATE audit_log SET actor = 'cli:someone-else' WHERE seq = 2")
    code, report = verify_json(env)
    assert code == EXIT_TAMPERED
    assert _fault(report) == (2, "edited")


def test_deleted_middle_row_is_named(env: dict[str, str], database_url: str) -> None:
    run_sql(database_url, "DELETE FROM audit_log WHERE seq = 7")
    code, report = verify_json(env)
    assert code == EXIT_TAMPERED
    assert _fault(report) == (7, "deleted")


def test_deleted_first_row_is_named(env: dict[str, str], database_url: str) -> None:
    run_sql(database_url, "DELETE FROM audit_log WHERE seq = 1")
    code, report = verify_json(env)
    assert _fault(report) == (1, "deleted")


def test_forged_row_with_its_own_hash_but_a_wrong_link_is_named(env: dict[str, str], database_url: str) -> None:
    chain = read_chain(database_url)
    # Make room at seq 7 (two steps: the primary key must stay unique at every row), then forge
    # an entry whose hash is correct for its content but which links to seq 5, not seq 6.
    run_sql(
        database_url,
        "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 7",
        "UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1007",
    )
    detail = {"n": 99, "name": "Mallory", "roles": ["kominfo-admin"]}
    prev = chain[4].hash
    forged = replace(
        chain[6],
        seq=7,
        actor="cli:ani",
        target="user:99",
        detail=detail,
        prev_hash=prev,
        hash=entry_hash(prev, 7, chain[6].at, "cli:ani", chain[6].action, "user:99", detail),
    )
    _insert(database_url, forged.as_record())
    code, report = verify_json(env)
    assert code == EXIT_TAMPERED
    assert _fault(report) == (7, "inserted")


def test_forged_row_with_a_recomputed_chain_is_caught_by_the_checkpoint(env: dict[str, str], database_url: str) -> None:
    chain = read_chain(database_url)
    forged = replace(chain[6], detail={"n": 99, "name": "Mallory", "roles": ["kominfo-admin"]})
    rewrite_chain_from(database_url, 7, forged)
    code, report = verify_json(env)
    assert code == EXIT_TAMPERED
    seq, kind = _fault(report)
    # The checkpoint over seq 4 still holds, the one over seq 9 does not: the rewrite is after 4.
    assert (seq, kind) == (5, "rewritten")
    assert "between seq 5 and seq 9" in report["fault"]["message"]


def test_recomputed_chain_without_stored_checkpoints_is_caught_by_the_checkpoint_entry(
    env: dict[str, str], database_url: str
) -> None:
    chain = read_chain(database_url)
    rewrite_chain_from(database_url, 7, replace(chain[6], detail={"n": 99}))
    run_sql(database_url, "DELETE FROM audit_checkpoints")
    code, report = verify_json(env)
    assert code == EXIT_TAMPERED
    assert _fault(report) == (5, "rewritten")


def test_recomputed_chain_resigned_with_a_key_of_the_attackers_own_is_caught(
    env: dict[str, str], database_url: str
) -> None:
    attacker_key = generate_key("ES256")
    jwk = public_jwk(attacker_key, "attacker", "ES256")
    # The attacker can write signing_keys but cannot seal a private key under the hub's secret.
    _insert(
        database_url,
        {"kid": "attacker", "alg": "ES256", "private_key": "AAAA", "public_jwk": jwk, "created_at": 0},
        table="signing_keys",
    )
    chain = read_chain(database_url)

    def resign(claims: dict[str, Any]) -> str:
        return jwt.encode(claims, attacker_key, algorithm="ES256", headers={"kid": "attacker", "typ": CHECKPOINT_TYP})

    rewrite_chain_from(database_url, 7, replace(chain[6], detail={"n": 99}), resign=resign)
    code, report = verify_json(env)
    assert code == EXIT_TAMPERED
    seq, kind = _fault(report)
    assert kind == "checkpoint-invalid" and seq >= 7
    assert "not a trusted hub key" in report["fault"]["message"]


def test_swapped_rows_are_named_as_reordered(env: dict[str, str], database_url: str) -> None:
    run_sql(
        database_url,
        "UPDATE audit_log SET seq = 1007 WHERE seq = 7",
        "UPDATE audit_log SET seq = 7 WHERE seq = 8",
        "UPDATE audit_log SET seq = 8 WHERE seq = 1007",
    )
    code, report = verify_json(env)
    assert code == EXIT_TAMPERED
    assert _fault(report) == (7, "reordered")


def test_tail_cut_after_a_checkpoint_is_named_as_truncated(env: dict[str, str], database_url: str) -> None:
    run_sql(database_url, "DELETE FROM audit_log WHERE seq >= 8")
    code, report = verify_json(env)
    assert code == EXIT_TAMPERED
    assert _fault(report) == (8, "truncated")
    assert "covers seq 9" in report["fault"]["message"]


def test_tail_cut_together_with_its_checkpoint_entries_is_named_as_truncated(
    env: dict[str, str], database_url: str
) -> None:
    run_sql(database_url, "DELETE FROM audit_log WHERE seq >= 3")
    code, report = verify_json(env)
    assert _fault(report) == (3, "truncated")


def test_tail_cut_after_the_last_checkpoint_is_not_an_error(env: dict[str, str], database_url: str) -> None:
    # What the checkpoints cannot see: entries after the newest one (11, 12) are removed cleanly.
    run_sql(database_url, "DELETE FROM audit_log WHERE seq >= 11")
    code, report = verify_json(env)
    assert (code, report["entries"]) == (0, 10)


def test_deleted_checkpoint_record_is_named(env: dict[str, str], database_url: str) -> None:
    run_sql(database_url, "DELETE FROM audit_checkpoints WHERE seq = 4")
    code, report = verify_json(env)
    assert code == EXIT_TAMPERED
    assert _fault(report) == (5, "checkpoint-missing")


def test_edited_checkpoint_signature_is_named(env: dict[str, str], database_url: str) -> None:
    run_sql(database_url, "UPDATE audit_checkpoints SET token = token || 'A' WHERE seq = 9")
    code, report = verify_json(env)
    assert code == EXIT_TAMPERED
    assert _fault(report) == (9, "checkpoint-invalid")


def test_checkpoints_signed_by_a_retired_and_expired_key_still_verify(env: dict[str, str]) -> None:
    from tests.support.audit import gerbang

    # The key that signed the checkpoints stops being published at once (retire_after = 0).
    assert gerbang({**env, "GERBANG_KEY_RETIRE_AFTER": "0"}, "keys", "rotate").exit_code == 0
    code, report = verify_json(env)
    assert code == 0, report
    assert report["entries"] == 13  # the rotation itself is audited


def test_wrong_hub_secret_makes_checkpoints_untrusted(env: dict[str, str]) -> None:
    code, report = verify_json({**env, "GERBANG_SECRET_KEY": "another-hub-secret-0123456789abcdef-99"})
    assert code == EXIT_TAMPERED
    assert report["fault"]["kind"] == "checkpoint-invalid"


def _insert(url: str, values: dict[str, Any], table: str = "audit_log") -> None:
    import asyncio

    from idp.storage.db import build_engine
    from idp.storage.models import Base

    async def _run() -> None:
        engine = build_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(insert(Base.metadata.tables[table]).values(**values))
        finally:
            await engine.dispose()

    asyncio.run(_run())


def test_without_the_hub_secret_the_report_says_keys_were_not_authenticated(env: dict[str, str]) -> None:
    from tests.support.audit import gerbang

    no_secret = {**env, "GERBANG_SECRET_KEY": ""}
    result = gerbang(no_secret, "audit", "verify")
    assert result.exit_code == 0
    assert "signing keys were not authenticated" in result.stdout
    assert verify_json(no_secret)[1]["keys"] == "unauthenticated"
    assert verify_json(env)[1]["keys"] == "authenticated"


def test_tail_cut_with_every_checkpoint_is_caught_by_the_logged_checkpoints(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio
    import logging

    import structlog

    from idp.logging import configure_logging
    from tests.support.audit import gerbang

    configure_logging(json=True, level="info")
    try:
        asyncio.run(seed_chain(database_url))
    finally:
        logging.getLogger().handlers[:] = [h for h in logging.getLogger().handlers if h.get_name() != "gerbang"]
        structlog.reset_defaults()
    log_file = tmp_path / "gerbang.log"  # what the log collector kept
    log_file.write_text(capsys.readouterr().out)
    env = cli_env(database_url, str(tmp_path / "data"))
    # Someone with database access cuts the tail and every trace of the checkpoints inside the database.
    run_sql(database_url, "DELETE FROM audit_log WHERE seq >= 5", "DELETE FROM audit_checkpoints")
    code, report = verify_json(env)
    assert code == 0 and report["entries"] == 4  # invisible from inside the database alone
    code, report = verify_json(env, "--anchor", str(log_file))
    assert code == EXIT_TAMPERED
    assert _fault(report) == (5, "truncated")
    assert gerbang(env, "audit", "verify", "--anchor", str(log_file)).stdout.startswith("TAMPERED: seq 5 truncated")


def test_anchor_file_of_plain_tokens_checks_an_export(env: dict[str, str], database_url: str, tmp_path: Path) -> None:
    from idp.audit_verify import read_anchors, verify_jsonl
    from tests.support.audit import gerbang

    tokens = [entry.detail["token"] for entry in read_chain(database_url) if "token" in entry.detail]
    anchors = tmp_path / "anchors.txt"
    anchors.write_text("\n".join(["not a token", *tokens]) + "\n")
    export = tmp_path / "audit.jsonl"
    assert gerbang(env, "audit", "export", "--output", str(export)).exit_code == 0
    lines = export.read_text().splitlines()
    export.write_text("\n".join(lines[:7]) + "\n")  # the export cut after seq 7
    assert [anchor.seq for anchor in read_anchors(anchors)] == [4, 9]
    fault = verify_jsonl(export, None, read_anchors(anchors)).fault
    assert fault is not None and (fault.seq, fault.kind) == (8, "truncated")
