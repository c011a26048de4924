"""The identity steps as ``create_app`` gets them: route → authenticate → assertion the app accepts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from gateway.apps import add_app
from gateway.assertion import AssertionVerifier
from gateway.identity import build_identity
from gateway.model import RequestHead
from gateway.settings import Settings
from idp.accounts import add_user
from idp.context import build_context
from tests.support.hub import TEST_UPSTREAM_ADDRESSES
from tests.support.hub_city import SECRET, seed_opd
from tests.support.hub_tokens import access_claims

ISSUER = "http://127.0.0.1:8000"


async def test_bearer_request_end_to_end(database_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=database_url, secret_key=SECRET, issuer=ISSUER, data_dir=tmp_path, registry_refresh_seconds=0.05
    )
    context = build_context(settings)
    await context.start()
    identity = build_identity(settings, context)
    await identity.start()
    try:
        now = int(time.time())
        await seed_opd(context.sessionmaker, now)
        async with context.sessionmaker() as session, session.begin():
            user = await add_user(
                session,
                email="petugas@dishub.example",
                name="P",
                password_hash=None,
                now=now,
                opd_slug="bpkad",
                roles=("analis",),
            )
            await add_app(
                session,
                addresses=TEST_UPSTREAM_ADDRESSES,
                slug="ebudgeting",
                opd_slug="bpkad",
                upstreams=("http://127.0.0.1:9",),
                auth_mode="bearer",
                issuer=ISSUER,
                now=now,
            )
        deadline = time.monotonic() + 5
        while (found := identity.routes.lookup("ebudgeting.localhost", "/anggaran")) is None:
            assert time.monotonic() < deadline, "the new app never reached the running registry"
            await asyncio.sleep(0.02)
        route, path = found
        token = context.keys.sign(access_claims(now, sub=user.id, aud=[route.resource]), typ="at+jwt")
        head = RequestHead(
            method="GET",
            path="/anggaran",
            query=b"",
            headers=((b"authorization", f"Bearer {token}".encode()),),
            client_ip="127.0.0.1",
            scheme="http",
            host="ebudgeting.localhost",
            request_id="r1",
        )
        principal = await identity.authenticator.authenticate(route, head)
        assertion = identity.assertions.issue(principal, route, head)
        seen = AssertionVerifier(
            issuer=ISSUER, audience="http://ebudgeting.localhost:8000/", jwks=context.keys.jwks()
        ).verify(assertion)
        assert path == "/anggaran"
        assert (seen.sub, seen.opd, seen.roles, seen.client_id) == (user.id, "bpkad", ("analis",), "parkir-web")
    finally:
        await identity.stop()
        await context.close()
