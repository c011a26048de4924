"""The city sign-in benchmark's small mode, end to end (a few hundred citizens, a few seconds), and the one
thing it must agree on with the database: the NIK each seeded citizen signs in with."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from idp.nik import parse_nik
from loadtests.signin.citizens import NIK_SQL, nik_of
from loadtests.signin_city import main
from tests.support.services import PG_ADMIN_DSN, require


def test_citizen_niks_are_valid_distinct_and_computed_alike_in_sql() -> None:
    require("PostgreSQL", "127.0.0.1", 5432)
    indexes = [1, 2, 17, 18, 503, 504, 1007, 1008, 12095, 12096, 798_335, 798_336, 1_780_000]

    async def from_sql() -> list[str]:
        import asyncpg

        connection = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            rows = await connection.fetch(f"SELECT {NIK_SQL} AS nik FROM unnest($1::bigint[]) AS i", indexes)
        finally:
            await connection.close()
        return [row["nik"] for row in rows]

    assert asyncio.run(from_sql()) == [nik_of(index) for index in indexes]
    niks = [nik_of(index) for index in range(1, 1_780_001, 7)]
    assert len(set(niks)) == len(niks)
    for nik in niks[::500]:
        parse_nik(nik)


@pytest.mark.slow
def test_small_mode_runs_the_whole_sign_in_and_reports(tmp_path: Path) -> None:
    require("PostgreSQL", "127.0.0.1", 5432)
    out = tmp_path / "report.md"
    assert (
        main(
            [
                "--database",
                PG_ADMIN_DSN.rsplit("/", 1)[0],
                "--users",
                "300",
                "--rates",
                "3",
                "--seconds",
                "3",
                "--token-seconds",
                "1",
                "--token-concurrency",
                "2",
                "--mixed",
                "2,2,5",
                "--mixed-seconds",
                "3",
                "--steal-seconds",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(out.with_suffix(".json").read_text())
    run = report["rates"][0]
    assert run["completed"] == run["started"] == 9 and not run["errors"]
    assert run["transactions_per_signin"] > 0 and run["rows_read_per_signin"] > 0
    assert set(run["pruned_after"]) == {"deleted", "rows_read"}  # the pruner's pass, counted apart
    assert all(run["steps"][step]["p50_ms"] > 0 for step in ("authorize", "login_page", "password", "resume", "token"))
    assert report["tokens"]["refresh"]["ok"] > 0 and report["tokens"]["client_credentials"]["ok"] > 0
    assert "completed/s" in out.read_text()
    mixed = report["mixed"]  # all three at once with a CPU thief: nothing refused, every sign-in completed
    assert mixed["refusals"] == 0 and mixed["signins"]["completed"] == mixed["signins"]["started"] == 6
    assert mixed["refresh"]["ok"] > 0 and mixed["client_credentials"]["ok"] == 15
    assert "refusals (429/503)" in out.read_text()
