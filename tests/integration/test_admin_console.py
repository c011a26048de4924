"""Kominfo's console on a real hub: sign-in through the provider (max_age), CSRF on forms, the approval queue,
scope by OPD, and re-authentication once the console session is older than ``admin_reauth_seconds``."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import update

from gateway.app import create_app
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.gateway_models import ConsoleSession
from tests.support.admin import BPKAD_ADMIN, DISHUB_OPERATOR, KOMINFO, AdminClient, admin_token, run_seed
from tests.support.hub import Browser, Hub, run_hub


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with run_hub(database_url, tmp_path, app_factory=create_app, registry_refresh_seconds=0.2) as running:
        run_seed(database_url, running.seeded.users)
        operator = AdminClient(running, admin_token(running, DISHUB_OPERATOR))
        submitted = operator.post(
            "/apps",
            {
                "slug": "parkir",
                "name": "Parkir Online",
                "opd": "dishub",
                "upstreams": ["http://127.0.0.1:9"],
                "auth_mode": "bearer",
                "contact": "tik@dishub.example.id",
            },
        )
        assert submitted.status_code == 201, submitted.text
        operator.close()
        yield running


def sign_in(hub: Hub, email: str) -> tuple[Browser, httpx.Response]:
    browser = Browser(hub)
    page = browser.go("/admin/")
    assert 'name="password"' in page.text
    landed = browser.login(page, email)
    assert landed.status_code == 200, landed.text
    return browser, landed


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_kominfo_approves_from_the_queue_and_sees_the_secret_once(hub: Hub) -> None:
    browser, queue = sign_in(hub, KOMINFO)
    assert "Antrean persetujuan" in queue.text and 'data-slug="parkir"' in queue.text
    done = browser.submit("/admin/aksi/aplikasi/parkir/approve", {"csrf_token": csrf_of(queue.text)})
    assert done.status_code == 200 and 'id="client-secret"' in done.text
    apps = browser.go("/admin/aplikasi?status=active")
    assert 'data-slug="parkir"' in apps.text and "client-secret" not in apps.text
    audit = browser.go("/admin/audit")
    assert 'title="app.approve"' in audit.text.split("<tbody>")[1]
    browser.close()


def test_forms_need_the_csrf_token(hub: Hub) -> None:
    browser, queue = sign_in(hub, KOMINFO)
    for token in ("", "forged"):
        refused = browser.submit("/admin/aksi/aplikasi/parkir/approve", {"csrf_token": token})
        assert refused.status_code == 403
    assert 'data-slug="parkir"' in browser.go("/admin/antrean").text  # still pending
    browser.close()


def test_an_opd_admin_neither_sees_nor_approves_another_opds_app(hub: Hub) -> None:
    browser, queue = sign_in(hub, BPKAD_ADMIN)
    assert 'data-slug="parkir"' not in queue.text and "Setujui" not in queue.text
    refused = browser.submit("/admin/aksi/aplikasi/parkir/approve", {"csrf_token": csrf_of(queue.text)})
    assert refused.status_code == 403
    browser.close()


def test_sign_in_asks_for_max_age_and_an_old_session_must_sign_in_again(hub: Hub) -> None:
    browser = Browser(hub)
    login = browser.http.get("/admin/login")
    params = parse_qs(urlsplit(login.headers["location"]).query)
    assert params["max_age"] == [str(hub.settings.admin_reauth_seconds)]
    assert params["resource"] == [f"{hub.url}/admin/api/"]
    browser.close()
    browser, queue = sign_in(hub, KOMINFO)

    async def age_sessions() -> None:
        engine = build_engine(hub.settings.database_url)
        async with build_sessionmaker(engine)() as session, session.begin():
            await session.execute(update(ConsoleSession).values(expires_at=0))
        await engine.dispose()

    asyncio.run(age_sessions())
    response = browser.http.post("/admin/aksi/aplikasi/parkir/approve", data={"csrf_token": csrf_of(queue.text)})
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"
    browser.close()


def test_bad_callbacks_and_unknown_actions_are_refused_without_5xx(hub: Hub) -> None:
    browser = Browser(hub)
    assert browser.http.get("/admin/callback", params={"code": "x", "state": "y", "iss": hub.url}).status_code == 400
    assert browser.http.get("/admin/antrean").status_code == 303  # not signed in
    browser.close()
    browser, queue = sign_in(hub, KOMINFO)
    assert browser.submit("/admin/aksi/aplikasi/parkir/explode", {"csrf_token": csrf_of(queue.text)}).status_code == 404
    assert browser.submit("/admin/aksi/aplikasi/nope/approve", {"csrf_token": csrf_of(queue.text)}).status_code == 404
    assert browser.submit("/admin/aksi/aplikasi/parkir/reject", {"csrf_token": csrf_of(queue.text)}).status_code == 400
    browser.close()


def test_a_search_with_control_characters_is_a_readable_400_page(hub: Hub) -> None:
    browser, _ = sign_in(hub, KOMINFO)
    try:
        for path in ("/admin/pengguna?q=siti%00aminah", "/admin/aplikasi?q=%00"):
            page = browser.http.get(path)
            assert page.status_code == 400, (path, page.status_code)
            assert page.headers["content-type"].startswith("text/html") and "Traceback" not in page.text
        assert browser.http.get("/admin/pengguna?q=siti").status_code == 200
    finally:
        browser.close()
