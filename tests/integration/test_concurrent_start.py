"""Several workers starting at the same moment on a fresh database all start (``gerbang serve --workers N``).

Each start is a real process (forked after the imports, released together by a barrier) running the hub's whole
ASGI start-up: the first signing key, the built-in ``gerbang-gateway`` and console clients, the registry. Before
start-up writes were insert-if-absent, one worker in a few failed on the unique constraint and uvicorn stopped
the hub. Without a configured secret (loopback) they also race to create the data directory's secret file.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

from gateway.app import create_app
from gateway.settings import Settings
from idp.clients import CONSOLE_CLIENT_ID, GATEWAY_CLIENT_ID
from idp.keys import ID_TOKEN_ALGS
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import Client, SigningKey

WORKERS = 6
ROUNDS = 3


async def _lifespan(app: Any) -> None:
    """Drive the app's ASGI lifespan as uvicorn does: startup, then shutdown; raise if startup failed."""
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan"}, inbox.get, outbox.put))
    started = await outbox.get()
    await inbox.put({"type": "lifespan.shutdown"})
    await task
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(started.get("message", started["type"]))


def _start_once(database_url: str, data_dir: str, barrier: Any, results: Any) -> None:
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        data_dir=Path(data_dir),
        issuer="http://127.0.0.1:8000",
        log_level="critical",
        registry_refresh_seconds=60,
    )
    barrier.wait(timeout=60)
    try:
        asyncio.run(_lifespan(create_app(settings)))
        results.put(("ok", settings.effective_secret.decode()))
    except BaseException as exc:  # reported to the test, which names it
        results.put(("failed", f"{type(exc).__name__}: {exc}"))


async def _forget_start_up_rows(database_url: str) -> None:
    """The next round starts on a database as fresh as the first (and with another secret)."""
    engine = build_engine(database_url)
    try:
        async with build_sessionmaker(engine)() as session, session.begin():
            await session.execute(delete(Client).where(Client.client_id.in_([GATEWAY_CLIENT_ID, CONSOLE_CLIENT_ID])))
            await session.execute(delete(SigningKey))
    finally:
        await engine.dispose()


async def _count(database_url: str) -> tuple[int, int, int]:
    engine = build_engine(database_url)
    try:
        async with build_sessionmaker(engine)() as session:
            clients = await session.scalar(
                select(func.count())
                .select_from(Client)
                .where(Client.client_id.in_([GATEWAY_CLIENT_ID, CONSOLE_CLIENT_ID]))
            )
            active = await session.scalar(
                select(func.count()).select_from(SigningKey).where(SigningKey.retired_at.is_(None))
            )
            total = await session.scalar(select(func.count()).select_from(SigningKey))
        return int(clients or 0), int(active or 0), int(total or 0)
    finally:
        await engine.dispose()


def test_workers_starting_together_all_start_and_provision_once(database_url: str, tmp_path: Path) -> None:
    forking = multiprocessing.get_context("fork")
    for round_number in range(ROUNDS):
        data_dir = tmp_path / f"data-{round_number}"  # a new data dir each round: the secret file is raced too
        barrier, results = forking.Barrier(WORKERS), forking.Queue()
        processes = [
            forking.Process(target=_start_once, args=(database_url, str(data_dir), barrier, results))
            for _ in range(WORKERS)
        ]
        for process in processes:
            process.start()
        answers = [results.get(timeout=120) for _ in processes]
        for process in processes:
            process.join(timeout=30)
        failures = [detail for outcome, detail in answers if outcome != "ok"]
        assert not failures, f"round {round_number}: {len(failures)} of {WORKERS} starts failed: {failures[0]}"
        assert all(process.exitcode == 0 for process in processes)
        secrets = {detail for _, detail in answers}
        assert len(secrets) == 1 and len(next(iter(secrets))) == 64, "every worker must read the one secret"
        assert (data_dir / "secret.key").stat().st_mode & 0o777 == 0o600
        assert not [name for name in os.listdir(data_dir) if name.startswith(".")], "no temporary file left"
        # the primary (ES256), one key per other ID token algorithm, and the HTTP message-signing key (integrity)
        keys = len(ID_TOKEN_ALGS) + 1
        assert asyncio.run(_count(database_url)) == (2, keys, keys), (
            "one gateway client, one console client, one key per algorithm and one message key"
        )
        asyncio.run(_forget_start_up_rows(database_url))
