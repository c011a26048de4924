"""BPKAD's e-budgeting app registered on a test hub, and the token the seeded "Bapenda Integrasi" client gets
for it: what the integrity tests (signed requests, ledger receipts, WebSockets) share."""

from __future__ import annotations

import time

import httpx

from gateway.apps import add_app
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.hub import TEST_UPSTREAM_ADDRESSES, Hub

RESOURCE = "http://127.0.0.1:9/apps/e-budgeting/"  # what the seeded "Bapenda Integrasi" client may ask for


async def register_budget_app(database_url: str, issuer: str, upstream: str, integrity: str) -> None:
    """``e-budgeting`` (OPD bpkad, bearer) in front of ``upstream`` with this integrity mode."""
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
            integrity=integrity,
        )
    await engine.dispose()


def bapenda_token(hub: Hub) -> str:
    """An access token for e-budgeting (client_credentials, RFC 8707 resource)."""
    client_id, secret = hub.client("Bapenda Integrasi")
    answer = httpx.post(
        f"{hub.url}/auth/token",
        auth=(client_id, secret or ""),
        data={"grant_type": "client_credentials", "scope": "anggaran:read", "resource": RESOURCE},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])
