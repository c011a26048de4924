"""The PHP recipe (contrib/php/gerbang.php, served by contrib/php/example.php under ``php -S``) behind a real hub.

Two PHP apps: BPKAD's e-budgeting (integrity ``signed``: message signature, Content-Digest, replay, then the
assertion) and Bapenda's pajak (a ``bearer`` app: the assertion only). Each sits behind a tampering proxy
(tests/support/tampering_proxy.py) that changes what the gateway sent, as an attacker on that hop would, and keeps
the last request so the test can send it again straight to the app (or to more hosts of it: two sharing their
replay cache in Redis, one whose Redis is down).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from gateway.app import create_app
from gateway.apps import add_app
from gateway.cli import main
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import Client
from tests.support.eventually import eventually
from tests.support.flows import WARGA, obtain_code, redeem
from tests.support.hub import TEST_UPSTREAM_ADDRESSES, Hub, free_port, run_hub
from tests.support.php import RECIPE, php_binary, run_php
from tests.support.records import rows, update_row
from tests.support.server import run_server
from tests.support.tampering_proxy import Tamper

RESOURCE = "http://127.0.0.1:9/apps/e-budgeting/"  # what the seeded "Bapenda Integrasi" client may ask for
BODY = b'{"tahun": 2027, "pagu": 1250000000}'
SIGNATURE_TTL = 5  # the shortest the settings allow: a signature goes stale within the test


async def register(database_url: str, issuer: str, slug: str, upstream: str, **options: str) -> str:
    engine = build_engine(database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        app = await add_app(
            session,
            addresses=TEST_UPSTREAM_ADDRESSES,
            slug=slug,
            opd_slug="bpkad",
            upstreams=(upstream,),
            auth_mode="bearer",
            issuer=issuer,
            now=int(time.time()),
            **options,
        )
    await engine.dispose()
    return app.resource


@dataclass
class City:
    hub: Hub
    budget: Tamper  # in front of e-budgeting (signed)
    pajak: Tamper  # in front of pajak (assertion only)
    budget_token: str  # Bapenda Integrasi's client_credentials token
    pajak_token: str  # the citizen's token, through Portal Kominfo

    def post(self, body: bytes = BODY, path: str = "/api/anggaran?tahun=2027") -> httpx.Response:
        return httpx.post(
            self.hub.app_url("e-budgeting") + path,
            content=body,
            timeout=10,
            headers={"authorization": f"Bearer {self.budget_token}", "content-type": "application/json"},
        )

    def get_pajak(self) -> httpx.Response:
        url = self.hub.app_url("pajak") + "/pbb/tagihan"
        return httpx.get(url, timeout=10, headers={"authorization": f"Bearer {self.pajak_token}"})

    def resend(self, proxy: Tamper, target: str = "", **replace: str) -> httpx.Response:
        """The last request the gateway sent through ``proxy``, sent again straight to the app (or to ``target``,
        another host of it), with the headers ``replace`` names changed."""
        sent = proxy.last
        headers = [(name, replace.get(name, value)) for name, value in sent["headers"]]
        url = (target or proxy.target) + sent["path"]
        return httpx.request(sent["method"], url, headers=headers, content=sent["body"], timeout=10)


@pytest.fixture
def city(database_url: str, tmp_path: Path) -> Iterator[City]:
    budget, pajak = Tamper(), Tamper()
    with run_hub(
        database_url,
        tmp_path,
        app_factory=create_app,
        assertion_reuse_seconds=0,  # every request its own assertion: a swapped one is another request's
        message_signature_ttl=SIGNATURE_TTL,
    ) as hub:
        budget_env = {"GERBANG_ISSUER": hub.url, "GERBANG_AUDIENCE": RESOURCE}
        budget_env["GERBANG_ORIGINS"] = hub.app_url("e-budgeting")
        with (
            run_php(RECIPE / "example.php", budget_env, tmp_path / "php-budget.log") as budget.target,
            run_server(budget) as budget_proxy,
            run_server(pajak) as pajak_proxy,
        ):
            asyncio.run(
                register(database_url, hub.url, "e-budgeting", budget_proxy, resource=RESOURCE, integrity="signed")
            )
            pajak_resource = asyncio.run(register(database_url, hub.url, "pajak", pajak_proxy))
            pajak_env = {"GERBANG_ISSUER": hub.url, "GERBANG_AUDIENCE": pajak_resource}
            with run_php(RECIPE / "example.php", pajak_env, tmp_path / "php-pajak.log") as pajak.target:
                running = City(
                    hub, budget, pajak, _client_token(hub), _citizen_token(hub, database_url, pajak_resource)
                )
                eventually(lambda: running.post().status_code != 404 and running.get_pajak().status_code != 404)
                yield running


def _client_token(hub: Hub) -> str:
    client_id, secret = hub.client("Bapenda Integrasi")
    answer = httpx.post(
        f"{hub.url}/auth/token",
        auth=(client_id, secret or ""),
        data={"grant_type": "client_credentials", "scope": "anggaran:read", "resource": RESOURCE},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _citizen_token(hub: Hub, database_url: str, resource: str) -> str:
    client_id, secret = hub.client("Portal Kominfo")
    client_pk = rows(database_url, Client, Client.client_id == client_id)[0].id
    update_row(database_url, Client, client_pk, resources=[resource])
    answer = redeem(
        hub, client_id, secret, obtain_code(hub, client_id, login=WARGA, resource=resource), resource=resource
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def test_a_signed_request_reaches_the_php_app_with_its_body_and_caller(city: City) -> None:
    answer = city.post()
    assert answer.status_code == 200, answer.text
    seen = answer.json()
    assert seen["body"] == BODY.decode() and seen["method"] == "POST" and seen["path"] == "/api/anggaran?tahun=2027"
    assert seen["client_id"] == city.hub.client("Bapenda Integrasi")[0] and seen["sub"] is None
    assert city.budget.last["body"] == BODY  # it did pass the proxy: the proxy is where the tests below tamper


@pytest.mark.parametrize("mode", ["body", "path", "assertion", "other-app-assertion"])
def test_a_request_altered_between_gateway_and_php_app_is_refused(city: City, mode: str) -> None:
    assert city.post().status_code == 200  # a first request: its assertion is the one swapped in next
    if mode == "other-app-assertion":
        assert city.get_pajak().status_code == 200
        city.budget.previous_assertion = dict(city.pajak.last["headers"])["x-gerbang-assertion"]
    city.budget.mode = "assertion" if mode.endswith("assertion") else mode
    answer = city.post()
    assert answer.status_code == 403 and answer.headers["content-type"] == "application/problem+json", answer.text
    problem = answer.json()
    assert problem["status"] == 403 and problem["title"] == "Forbidden"
    expected = "Content-Digest" if mode == "body" else "does not match the request"
    assert expected in problem["detail"]


def test_a_replayed_or_stale_signed_request_is_refused(city: City) -> None:
    assert city.post().status_code == 200
    replay = city.resend(city.budget)
    assert replay.status_code == 403 and "replay" in replay.json()["detail"]
    signature_input = dict(city.budget.last["headers"])["signature-input"]
    expires = int(re.search(r";expires=(\d+)", signature_input).group(1))  # type: ignore[union-attr]
    time.sleep(max(0.0, expires + 5 + 1 - time.time()))  # past the signature's life and the 5 s leeway
    stale = city.resend(city.budget)
    assert stale.status_code == 403 and "expired" in stale.json()["detail"]


def test_an_unsigned_request_to_a_signed_php_app_is_401(city: City) -> None:
    assert city.post().status_code == 200
    unsigned = city.resend(city.budget, **{"signature-input": "", "signature": ""})
    assert unsigned.status_code == 401 and unsigned.headers["content-type"] == "application/problem+json"


def test_the_assertion_alone_lets_the_citizen_into_a_bearer_php_app(city: City) -> None:
    answer = city.get_pajak()
    assert answer.status_code == 200, answer.text
    seen = answer.json()
    assert seen["sub"] == city.hub.seeded.users[WARGA] and seen["client_id"] == city.hub.client("Portal Kominfo")[0]
    assert seen["method"] == "GET" and seen["path"] == "/pbb/tagihan" and seen["body"] == ""
    assert "signature" not in dict(city.pajak.last["headers"])  # nothing but the assertion was checked
    # The same assertion straight to the app still passes (it lives 30 s); another app's does not.
    assert city.resend(city.pajak).status_code == 200
    assert city.post().status_code == 200
    budget_assertion = dict(city.budget.last["headers"])["x-gerbang-assertion"]
    misdirected = city.resend(city.pajak, **{"x-gerbang-assertion": budget_assertion})
    assert misdirected.status_code == 403 and "another app" in misdirected.json()["detail"]
    missing = city.resend(city.pajak, **{"x-gerbang-assertion": ""})
    assert missing.status_code == 401 and missing.json()["status"] == 401


def test_the_hubs_bypass_audit_finds_both_php_apps_closed(
    city: City, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``gerbang apps audit`` calls each upstream (here the proxies, which pass calls on unchanged) without an
    assertion, with one forged with a throwaway key under the hub's kid, with one the hub's real key signed that
    expired a minute ago, and with a fresh one the hub signed for no app."""
    settings = city.hub.settings
    monkeypatch.setenv("GERBANG_DATABASE_URL", database_url)
    monkeypatch.setenv("GERBANG_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("GERBANG_ISSUER", city.hub.url)
    monkeypatch.setenv("GERBANG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GERBANG_UPSTREAM_ALLOW", "127.0.0.0/8,::1/128")
    monkeypatch.delenv("GERBANG_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["apps", "audit", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stdout
    statuses = {
        app["slug"]: {probe["probe"]: probe["status"] for probe in app["probes"]}
        for app in json.loads(result.stdout)["apps"]
    }
    refused = {"no-assertion": 401, "forged": 403, "expired": 403, "wrong-audience": 403}
    assert statuses["pajak"] == refused
    assert statuses["e-budgeting"] == dict.fromkeys(refused, 401)  # no signature: refused before the assertion


def test_hosts_sharing_the_replay_cache_in_redis_refuse_a_copy_sent_to_another(
    city: City, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """Two more hosts of e-budgeting keep nonces in Redis (``gerbang_redis_first_use``), a third points at a Redis
    that is down. The first takes a genuine signed request, the second refuses the copy, the third answers 503."""
    php_binary("redis")
    env = {
        "GERBANG_ISSUER": city.hub.url,
        "GERBANG_AUDIENCE": RESOURCE,
        "GERBANG_ORIGINS": city.hub.app_url("e-budgeting"),
    }
    shared = {**env, "GERBANG_REPLAY_REDIS": redis_url.removeprefix("redis://").split("/")[0]}
    shared["GERBANG_REPLAY_PREFIX"] = f"{redis_prefix}:nonce:"
    down = {**env, "GERBANG_REPLAY_REDIS": f"127.0.0.1:{free_port()}"}  # nothing listens there
    with (
        run_php(RECIPE / "example.php", shared, tmp_path / "php-a.log") as host_a,
        run_php(RECIPE / "example.php", shared, tmp_path / "php-b.log") as host_b,
        run_php(RECIPE / "example.php", down, tmp_path / "php-c.log") as host_c,
    ):
        assert city.post().status_code == 200  # the apcu host took it first: the copies below go to the others
        answers = [city.resend(city.budget, target=host) for host in (host_a, host_b, host_c)]
    assert answers[0].status_code == 200 and answers[0].json()["body"] == BODY.decode()
    assert answers[1].status_code == 403 and "replay" in answers[1].json()["detail"]
    assert answers[2].status_code == 503 and answers[2].json()["title"] == "Service Unavailable"
