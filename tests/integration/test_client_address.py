"""Behind the city's load balancer the provider limits and records each citizen's own address (resolved through
``GERBANG_TRUSTED_PROXIES`` by ``idp.client_address``); from anywhere else ``X-Forwarded-For`` is ignored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from sqlalchemy import select

from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import BrowserSession
from policies.loader import DEFAULT_POLICY_DIR
from tests.support.hub import PASSWORD, Hub, authorize_url, csrf_from, interaction_from, pkce_pair, run_hub

PER_IP_BURST = 30  # login-per-ip in the shipped policies


def _attempt(hub: Hub, forwarded_for: str, login: str, password: str) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for}
    with httpx.Client(base_url=hub.url, follow_redirects=False, timeout=10, headers=headers) as http:
        first = http.get(authorize_url(hub.client("Portal Kominfo")[0], pkce_pair()[1]))
        page = http.get(first.headers["location"])
        return http.post(
            "/auth/login",
            data={
                "login": login,
                "password": password,
                "csrf_token": csrf_from(page.text),
                "interaction": interaction_from(first.headers["location"]),
            },
        )


def _session_addresses(url: str) -> list[str | None]:
    async def read() -> list[str | None]:
        engine = build_engine(url)
        try:
            async with build_sessionmaker(engine)() as session:
                return list((await session.scalars(select(BrowserSession.ip))).all())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_limits_and_sessions_use_the_address_the_balancer_forwarded(database_url: str, tmp_path: Path) -> None:
    with run_hub(database_url, tmp_path, policy_dir=DEFAULT_POLICY_DIR, trusted_proxies=("127.0.0.1/32",)) as hub:
        statuses = []
        while 429 not in statuses and len(statuses) < PER_IP_BURST + 10:  # it refills one every 2 s meanwhile
            statuses.append(_attempt(hub, "203.0.113.7", f"tidak-ada-{len(statuses)}@example.id", "salah").status_code)
        assert statuses[:PER_IP_BURST] == [200] * PER_IP_BURST and statuses[-1] == 429  # one guesser is throttled...
        signed_in = _attempt(hub, "198.51.100.20, 203.0.113.9", "warga@example.id", PASSWORD)
        assert signed_in.status_code == 303  # ...not every citizen behind the same balancer
    assert _session_addresses(database_url) == ["203.0.113.9"]  # the hop just before the trusted balancer


def test_a_forwarded_for_sent_from_an_untrusted_address_is_ignored(database_url: str, tmp_path: Path) -> None:
    with run_hub(database_url, tmp_path, policy_dir=DEFAULT_POLICY_DIR) as hub:
        assert _attempt(hub, "203.0.113.50", "warga@example.id", PASSWORD).status_code == 303
    assert _session_addresses(database_url) == ["127.0.0.1"]
