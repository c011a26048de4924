"""A ``gerbang serve --workers 2`` worker killed with SIGKILL in the middle of a burst to a ``ledger`` app: every
response a client received whole has its receipt in the ledger (written before the response was released), and
the ledger still verifies."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.gateway_models import LedgerReceipt
from tests.integration.scale.conftest import Town
from tests.support.instances import start_instance

pytestmark = pytest.mark.slow

REQUESTS = 240


def workers_of(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def is_alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" not in status.read_text()


def stored(database_url: str) -> dict[str, tuple[int, str]]:
    async def read() -> dict[str, tuple[int, str]]:
        engine = build_engine(database_url)
        async with build_sessionmaker(engine)() as session:
            rows = (
                await session.execute(select(LedgerReceipt.request_id, LedgerReceipt.seq, LedgerReceipt.hash))
            ).all()
        await engine.dispose()
        return {request_id: (seq, digest) for request_id, seq, digest in rows}

    return asyncio.run(read())


def test_kill_9_of_a_worker_loses_no_receipt_of_a_delivered_response(town: Town) -> None:
    town.city.cli("apps", "update", "parkir", "--integrity", "ledger")
    instance = start_instance(town.city, "--workers", "2")
    delivered: list[tuple[str, dict[str, object]]] = []
    lock = threading.Lock()
    try:
        bearer = {"Authorization": f"Bearer {town.service_token(instance.url)}"}
        url = f"{instance.app_url('parkir')}/echo"
        assert httpx.get(url, headers=bearer, timeout=10).status_code == 200
        victim = workers_of(instance.process.pid)[0]

        def one(number: int) -> None:
            if number == REQUESTS // 3:
                os.kill(victim, signal.SIGKILL)
            try:
                answer = httpx.post(url, headers=bearer, content=f"pajak-{number}".encode(), timeout=10)
            except httpx.TransportError:
                return  # cut by the kill: never delivered
            if answer.status_code == 200 and "gerbang-receipt" in answer.headers:
                proof = answer.headers["gerbang-receipt"].partition("~")[2]  # <checkpoint JWS>~<proof>
                claims = json.loads(base64.urlsafe_b64decode(proof + "=" * (-len(proof) % 4)))
                with lock:
                    delivered.append((answer.headers["x-request-id"], claims["receipt"]))

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(one, range(REQUESTS)))
        assert not is_alive(victim)  # the kill happened during the burst
    finally:
        instance.terminate()
    assert len(delivered) > REQUESTS // 2
    ledger = stored(town.city.database_url)
    for request_id, receipt in delivered:
        assert ledger.get(request_id) == (receipt["seq"], receipt["hash"]), request_id
    verified = json.loads(town.city.cli("ledger", "verify", "--json").stdout)
    assert verified["intact"] and verified["receipts"] == len(ledger)
