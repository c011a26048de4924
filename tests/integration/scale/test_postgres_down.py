"""PostgreSQL stopped under a running instance (the test's own cluster, never the shared one).

While it is down: ``/readyz`` 503, ``/healthz`` 200; issued access tokens keep working at a bearer app (keys,
subjects and routes served from memory); login and token endpoints answer a clear 503 and write nothing.
When it is back, everything recovers without a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.migrate import upgrade
from idp.storage.models import BrowserSession
from tests.integration.scale.conftest import Town, authorize, build_town, redeem, sign_in
from tests.support.eventually import eventually
from tests.support.hub import PASSWORD, csrf_from, free_port, interaction_from
from tests.support.instances import Instance, start_instance
from tests.support.localhost_names import app_url
from tests.support.own_postgres import OwnPostgres, own_postgres
from tests.support.upstream import Upstream

pytestmark = pytest.mark.slow


@pytest.fixture
def stoppable(tmp_path: Path, upstream: tuple[Upstream, str]) -> Iterator[tuple[OwnPostgres, Town, Instance]]:
    with own_postgres() as server:
        url = server.create_database("gerbang")
        upgrade(url)
        town = build_town(url, tmp_path, upstream, f"http://127.0.0.1:{free_port()}")
        # Roles served from memory are refreshed after a second: the refresh fails while the database is down.
        instance = start_instance(
            town.city, port=int(town.city.issuer.rsplit(":", 1)[1]), GERBANG_SUBJECT_CACHE_TTL="1"
        )
        try:
            yield server, town, instance
        finally:
            assert instance.terminate() == 0, instance.log()[-3000:]


def sessions_in(database_url: str) -> int:
    async def count() -> int:
        engine = build_engine(database_url)
        async with build_sessionmaker(engine)() as session:
            value = await session.scalar(select(func.count()).select_from(BrowserSession))
        await engine.dispose()
        return int(value or 0)

    return asyncio.run(count())


def test_postgres_stopped_then_back(stoppable: tuple[OwnPostgres, Town, Instance]) -> None:
    server, town, instance = stoppable
    base = instance.url
    auth = (town.client_id, town.client_secret)
    with httpx.Client(base_url=base, timeout=10) as browser:
        params, verifier = sign_in(browser, town, "asn@dishub.example.id")
        tokens = redeem(base, town, params["code"], verifier)
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert httpx.get(f"{app_url(base, 'parkir')}/echo", headers=bearer).status_code == 200
        with httpx.Client(base_url=base, timeout=10) as other:  # a citizen halfway through signing in
            page, _ = authorize(other, town)
            form = {
                "login": "warga@example.id",
                "password": PASSWORD,
                "csrf_token": csrf_from(page.text),
                "interaction": interaction_from(str(page.url)),
            }
            sessions_before = sessions_in(town.city.database_url)

            server.stop()

            assert httpx.get(f"{base}/healthz").status_code == 200
            eventually(lambda: httpx.get(f"{base}/readyz").status_code == 503, timeout=5)
            for _ in range(20):  # past the subject cache's TTL and several registry/revocation polls
                assert httpx.get(f"{app_url(base, 'parkir')}/echo", headers=bearer).status_code == 200
                asyncio.run(asyncio.sleep(0.1))

            login = other.post("/auth/login", data=form)
            assert login.status_code == 503 and login.headers["content-type"].startswith("text/html")
            assert "Layanan sedang tidak tersedia" in login.text and "Traceback" not in login.text
            fresh = httpx.get(f"{base}/auth/authorize", params={"client_id": town.client_id})
            assert fresh.status_code == 503 and "Layanan sedang tidak tersedia" in fresh.text
            for data in (
                {"grant_type": "client_credentials", "scope": "parkir:read", "resource": town.resource},
                {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            ):
                answer = httpx.post(f"{base}/auth/token", auth=auth, data=data)
                assert answer.status_code == 503, answer.text
                assert answer.json() == {"error": "temporarily_unavailable"}
                assert answer.headers["cache-control"] == "no-store" and "retry-after" in answer.headers

            server.start()

            eventually(lambda: httpx.get(f"{base}/readyz").status_code == 200, timeout=10)
            assert sessions_in(town.city.database_url) == sessions_before  # the failed login wrote nothing
            assert httpx.get(f"{app_url(base, 'parkir')}/echo", headers=bearer).status_code == 200
            assert town.service_token(base)
            again = httpx.post(
                f"{base}/auth/token",
                auth=auth,
                data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            )
            assert again.status_code == 200, again.text
            retried = other.post("/auth/login", data=form)  # the same form, sent again, now goes through
            assert retried.status_code in (302, 303), retried.text[:300]
            assert sessions_in(town.city.database_url) == sessions_before + 1
