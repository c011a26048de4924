"""``gerbang serve --workers 2`` with prometheus-client's multiprocess mode: each worker adds its own traffic
counts to the shared database (the last ones when it stops), so the stored sum is exactly the requests sent;
the health gauges merge across workers in ``/metrics``."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from sqlalchemy import func, select

from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.gateway_models import TrafficMinute
from tests.integration.scale.conftest import Town
from tests.support.instances import start_instance

pytestmark = pytest.mark.slow

SENT = 40


def stored_requests(database_url: str, app: str) -> int:
    async def count() -> int:
        engine = build_engine(database_url)
        async with build_sessionmaker(engine)() as session:
            value = await session.scalar(select(func.sum(TrafficMinute.requests)).where(TrafficMinute.app == app))
        await engine.dispose()
        return int(value or 0)

    return asyncio.run(count())


def test_every_worker_adds_its_counts_and_flushes_on_stop(town: Town, tmp_path_factory: pytest.TempPathFactory) -> None:
    metrics_dir = tmp_path_factory.mktemp("prometheus")
    instance = start_instance(
        town.city,
        "--workers",
        "2",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        GERBANG_TRAFFIC_FLUSH_SECONDS="300",
        GERBANG_HEALTH_PROBE_SECONDS="0.5",
    )
    try:
        bearer = {"Authorization": f"Bearer {town.service_token(instance.url)}"}
        for _ in range(SENT):  # a new connection each time: the kernel spreads them over both workers
            assert httpx.get(f"{instance.app_url('parkir')}/echo", headers=bearer).status_code == 200
        metrics = httpx.get(f"{instance.url}/metrics").text
        assert re.search(r"^gerbang_database_up(\{[^}]*\})? 1\.0$", metrics, re.M), metrics[-2000:]
        assert stored_requests(town.city.database_url, "parkir") == 0  # nothing flushed yet (300 s interval)
    finally:
        assert instance.terminate() == 0, instance.log()[-3000:]
    assert stored_requests(town.city.database_url, "parkir") == SENT
