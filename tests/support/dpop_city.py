"""A hub with the gateway and one bearer app that requires DPoP (BPKAD's e-budgeting), for DPoP tests."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from gateway.app import create_app
from gateway.apps import add_app
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.hub import HUB_POLICIES, TEST_UPSTREAM_ADDRESSES, Hub, run_hub
from tests.support.server import run_server
from tests.support.upstream import Upstream

RESOURCE = "http://127.0.0.1:9/apps/e-budgeting/"  # what the seeded "Bapenda Integrasi" client may ask for


PAJAK_RESOURCE = "http://127.0.0.1:9/apps/pajak/"  # an app whose DPoP requirement comes from the policy files
POLICY = "apps:\n  - slug: pajak\n    restricted: false\n    require_dpop: true\n"


async def register_apps(database_url: str, issuer: str, upstream: str) -> None:
    engine = build_engine(database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        await add_app(
            session,
            addresses=TEST_UPSTREAM_ADDRESSES,
            slug="e-budgeting",
            opd_slug="bpkad",
            upstreams=(upstream,),
            auth_mode="bearer",
            issuer=issuer,
            now=int(time.time()),
            resource=RESOURCE,
            require_dpop=True,
        )
        await add_app(
            session,
            addresses=TEST_UPSTREAM_ADDRESSES,
            slug="pajak",
            opd_slug="bpkad",
            upstreams=(upstream,),
            auth_mode="bearer",
            issuer=issuer,
            now=int(time.time()),
            resource=RESOURCE.replace("e-budgeting", "pajak"),
        )
    await engine.dispose()


@contextmanager
def run_dpop_city(database_url: str, tmp_path: Path, extra_policy: str = "") -> Iterator[Hub]:
    """``extra_policy``: one more policy file (e.g. a profile rule) beside the city's."""
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    shutil.copy(HUB_POLICIES / "00-hub.yaml", policy_dir / "00-hub.yaml")
    (policy_dir / "10-apps.yaml").write_text(POLICY)
    if extra_policy:
        (policy_dir / "20-extra.yaml").write_text(extra_policy)
    with run_server(Upstream("e-budgeting")) as upstream_url:
        with run_hub(database_url, tmp_path, app_factory=create_app, policy_dir=policy_dir) as hub:
            asyncio.run(register_apps(database_url, hub.url, upstream_url))
            deadline = time.monotonic() + 15  # the registry refreshes in the background
            while httpx.get(f"{hub.app_url('e-budgeting')}/echo").status_code == 404 and time.monotonic() < deadline:
                time.sleep(0.2)
            yield hub
