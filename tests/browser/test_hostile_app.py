"""One compromised OPD app, in a real Chromium, against the hub and its neighbours.

A Kominfo administrator, signed in to the console and to the citizen services, opens ``jahat`` (an app
whose every page runs hostile script; its upstream also sends hostile headers). The hub is at
``http://127.0.0.1:PORT`` and every app at its own origin ``http://{slug}.localhost:PORT`` (as ``gerbang
demo`` runs). The script cannot read ``/account``, cannot change the profile or disable a user through
the console, cannot register a service worker that covers the hub (``Service-Worker-Allowed: /`` is
dropped), cannot set a cookie the hub reads (its upstream's ``Domain=`` and ``gerbang*`` cookies are
dropped; what its script sets never reaches the hub's host), and cannot read another app's session.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from gateway.app import create_app
from gateway.apps import add_app
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import User
from tests.support.admin import KOMINFO, run_seed
from tests.support.browser import agree_to_app
from tests.support.chromium import chromium
from tests.support.hub import PASSWORD, TEST_UPSTREAM_ADDRESSES, Hub, run_hub
from tests.support.server import run_server
from tests.support.upstream import Upstream

pytestmark = pytest.mark.browser

WARGA = "warga@example.id"
# Everything one hostile page tries; the findings land in window.results (true = the attack worked).
ATTACKS = """
<!doctype html><html><body><h1>Layanan Jahat</h1><script>
const HUB = %(hub)s, NEIGHBOUR = %(neighbour)s, VICTIM = %(victim)s;
const results = {};
async function attempt(name, fn) { try { results[name] = await fn(); } catch (e) { results[name] = false; } }
async function post(url, body) {
  await fetch(url, {method: "POST", mode: "no-cors", credentials: "include", body: new URLSearchParams(body)});
}
function framedPost(url, body) {  // a real form, as a browser navigation (in a hidden frame)
  return new Promise(done => {
    const frame = document.createElement("iframe"); frame.name = "f" + Math.random(); frame.hidden = true;
    document.body.appendChild(frame);
    const form = document.createElement("form"); form.method = "POST"; form.action = url; form.target = frame.name;
    for (const [k, v] of Object.entries(body)) { const i = document.createElement("input"); i.name = k; i.value = v;
      form.appendChild(i); }
    document.body.appendChild(form); frame.onload = () => done(); form.submit(); setTimeout(done, 3000);
  });
}
(async () => {
  await attempt("read_account", async () => {
    const answer = await fetch(HUB + "/account", {credentials: "include"});
    return (await answer.text()).includes("@");
  });
  await attempt("read_neighbours_page", async () => {
    const answer = await fetch(NEIGHBOUR + "/echo", {credentials: "include"});
    return (await answer.text()).length > 0;
  });
  results.session_cookie_visible = document.cookie.includes("gerbang");
  await post(HUB + "/account/profile", {name: "Diretas Jahat", csrf_token: "x"});
  await framedPost(HUB + "/account/profile", {name: "Diretas Jahat", csrf_token: "x"});
  await post(HUB + "/admin/aksi/pengguna/" + VICTIM + "/disable", {csrf_token: "x"});
  await framedPost(HUB + "/admin/aksi/pengguna/" + VICTIM + "/disable", {csrf_token: "x"});
  await attempt("worker_over_the_hub", async () => { await navigator.serviceWorker.register(HUB + "/sw.js");
                                                     return true; });
  await attempt("worker_scope_widened", async () => {
    await navigator.serviceWorker.register("/static/sw.js", {scope: "/"}); return true; });
  await attempt("worker_own_directory", async () => {
    await navigator.serviceWorker.register("/static/sw.js", {scope: "/static/"}); return true; });
  document.cookie = "gerbang_lang=en; domain=localhost; path=/";
  document.cookie = "gerbang_session=tossed; path=/";
  await fetch("/set-cookies", {credentials: "include"});
  window.results = results; window.done = true;
})();
</script></body></html>
"""
WORKER = "self.addEventListener('fetch', event => event.respondWith(new Response('owned by jahat')));"


class HostileApp:
    """The compromised app's upstream (outside our code): hostile pages and headers; it records what it receives."""

    def __init__(self) -> None:
        self.cookies_seen: list[str] = []
        self.hub, self.neighbour, self.victim, self.admin = "", "", "", ""
        self.app = Starlette(
            routes=[Route("/", self.page), Route("/static/sw.js", self.worker), Route("/set-cookies", self.set_cookies)]
        )

    async def page(self, request: Request) -> Response:
        self.cookies_seen.append(request.headers.get("cookie", ""))
        values = {
            "hub": json.dumps(self.hub),
            "neighbour": json.dumps(self.neighbour),
            "victim": json.dumps(self.victim),
        }
        return HTMLResponse(ATTACKS % values)

    async def worker(self, _request: Request) -> Response:
        return Response(WORKER, media_type="text/javascript", headers={"Service-Worker-Allowed": "/"})

    async def set_cookies(self, request: Request) -> Response:
        self.cookies_seen.append(request.headers.get("cookie", ""))
        response = JSONResponse({"ok": True})
        for cookie in (
            "tossed=1; Domain=localhost; Path=/",
            "gerbang_gw=fixated; Path=/",
            "__Host-gerbang_session=fixated; Path=/; Secure",
            "mine=1; Path=/",
        ):
            response.raw_headers.append((b"set-cookie", cookie.encode()))
        return response


async def register(database_url: str, issuer: str, apps: dict[str, str]) -> None:
    engine = build_engine(database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        for slug, upstream in apps.items():
            await add_app(
                session,
                slug=slug,
                opd_slug="dishub",
                upstreams=(upstream,),
                auth_mode="session",
                issuer=issuer,
                now=int(time.time()),
                addresses=TEST_UPSTREAM_ADDRESSES,
            )
    await engine.dispose()


@pytest.fixture
def city(database_url: str, tmp_path: Path) -> Iterator[tuple[Hub, HostileApp]]:
    hostile = HostileApp()
    with run_server(hostile.app) as jahat, run_server(Upstream("parkir")) as parkir:
        with run_hub(database_url, tmp_path, app_factory=create_app, registry_refresh_seconds=0.2) as hub:
            hostile.admin = run_seed(database_url, hub.seeded.users).users[KOMINFO]
            asyncio.run(register(database_url, hub.url, {"jahat": jahat, "parkir": parkir}))
            deadline = time.monotonic() + 15
            while httpx.get(f"{hub.app_url('jahat')}/").status_code == 404 and time.monotonic() < deadline:
                time.sleep(0.2)
            hostile.hub, hostile.neighbour = hub.url, hub.app_url("parkir")
            hostile.victim = hub.seeded.users[WARGA]
            yield hub, hostile


def user_row(database_url: str, user_id: str) -> User:
    async def load() -> User:
        engine = build_engine(database_url)
        async with build_sessionmaker(engine)() as session:
            row = await session.scalar(select(User).where(User.id == user_id))
        await engine.dispose()
        assert row is not None
        return row

    with ThreadPoolExecutor(1) as pool:  # playwright's sync API keeps an event loop running in this thread
        return pool.submit(asyncio.run, load()).result()


def test_a_hostile_app_cannot_reach_the_hub_or_its_neighbours(city: tuple[Hub, HostileApp], database_url: str) -> None:
    hub, hostile = city
    with chromium() as browser:
        context = browser.new_context()
        page: Any = context.new_page()
        page.goto(f"{hub.url}/admin/")  # Kominfo's administrator signs in to the console...
        page.fill("#login", KOMINFO)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{hub.url}/admin/antrean")
        page.goto(f"{hub.app_url('parkir')}/echo")  # ...and opens a city service (single sign-on)
        agree_to_app(page)
        page.wait_for_url(f"{hub.app_url('parkir')}/echo")
        page.goto(f"{hub.app_url('jahat')}/")  # then the compromised app
        agree_to_app(page)
        page.wait_for_url(f"{hub.app_url('jahat')}/")
        page.wait_for_function("window.done === true", timeout=20_000)
        results = page.evaluate("window.results")
        assert results == {
            "read_account": False,
            "read_neighbours_page": False,
            "session_cookie_visible": False,
            "worker_over_the_hub": False,
            "worker_scope_widened": False,
            "worker_own_directory": True,
        }, results  # a worker for its own directory: its own business

        admin = user_row(database_url, hostile.admin)
        victim = user_row(database_url, hub.seeded.users[WARGA])
        assert not victim.disabled  # the console action never happened
        account = context.new_page()
        account.goto(f"{hub.url}/account")
        assert account.url == f"{hub.url}/account"  # still signed in at the hub: nothing was ended or replaced
        assert account.locator("html").get_attribute("lang") == "id"  # a tossed gerbang_lang=en is not read
        assert "Diretas Jahat" not in account.content()
        assert admin.name != "Diretas Jahat" and not admin.disabled
        assert account.evaluate("navigator.serviceWorker.controller") is None  # no worker over the hub's pages

        cookies = {(c["name"], c["domain"]): c["value"] for c in context.cookies()}
        assert ("mine", "jahat.localhost") in cookies  # the app's own cookie passes
        assert not any(name == "tossed" for name, _ in cookies)  # Domain=localhost from the upstream: dropped
        assert cookies.get(("gerbang_gw", "jahat.localhost")) not in (None, "fixated")  # no session fixation
        assert not any(value == "fixated" for value in cookies.values())
        hub_cookies = {name for name, domain in cookies if domain == "127.0.0.1"}
        assert "gerbang_session" in hub_cookies and cookies[("gerbang_session", "127.0.0.1")] != "tossed"
        # The gateway never forwarded the person's gateway or hub cookies to the hostile app.
        assert hostile.cookies_seen and not any("gerbang" in seen for seen in hostile.cookies_seen), (
            hostile.cookies_seen
        )
        context.close()
