"""The console's traffic view on a real hub (both backends): requests through the gateway to a real loopback
upstream reach the database on the next flush and show on ``/admin/lalu-lintas`` and ``GET /admin/api/traffic``;
two instances add up; each administrator sees only their own subtree; bad filters are refused plainly."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import Settings
from tests.support.admin import (
    BPKAD_ADMIN,
    BPKAD_OPERATOR,
    DISHUB_OPERATOR,
    KOMINFO,
    AdminClient,
    admin_token,
    run_seed,
)
from tests.support.eventually import eventually
from tests.support.hub import HUB_POLICIES, Browser, Hub, free_port, run_hub
from tests.support.localhost_names import app_url
from tests.support.server import run_server
from tests.support.upstream import Upstream

FLUSH = 0.2


@dataclass
class City:
    hub: Hub
    kominfo: AdminClient
    bpkad: AdminClient


def submit_and_approve(operator: AdminClient, kominfo: AdminClient, slug: str, opd: str, upstream: str) -> None:
    submitted = operator.post(
        "/apps",
        {
            "slug": slug,
            "name": f"Aplikasi {slug}",
            "opd": opd,
            "upstreams": [upstream],
            "auth_mode": "none",
            "contact": f"tik@{opd}.example.id",
        },
    )
    assert submitted.status_code == 201, submitted.text
    assert kominfo.post(f"/apps/{slug}/approve").status_code == 200


# parkir admits 12 requests, then answers 429 (one more per 5 minutes): the 429s are real throttling.
PARKIR_LIMIT = "limits:\n  - {id: parkir-tight, per: app, apps: [parkir], rate: 12, period: 1h, burst: 12}\n"


@pytest.fixture
def city(database_url: str, tmp_path: Path) -> Iterator[City]:
    policies = tmp_path / "policies"
    shutil.copytree(HUB_POLICIES, policies)
    (policies / "10-traffic.yaml").write_text(PARKIR_LIMIT)
    with (
        run_server(Upstream("opd")) as upstream,
        run_hub(
            database_url,
            tmp_path,
            app_factory=create_app,
            registry_refresh_seconds=0.2,
            traffic_flush_seconds=FLUSH,
            policy_dir=policies,
        ) as hub,
    ):
        run_seed(database_url, hub.seeded.users)
        kominfo = AdminClient(hub, admin_token(hub, KOMINFO))
        bpkad = AdminClient(hub, admin_token(hub, BPKAD_ADMIN))
        operators = [AdminClient(hub, admin_token(hub, email)) for email in (DISHUB_OPERATOR, BPKAD_OPERATOR)]
        submit_and_approve(operators[0], kominfo, "parkir", "dishub", upstream)
        submit_and_approve(operators[1], kominfo, "pajak", "bpkad", upstream)
        for slug in ("parkir", "pajak"):
            eventually(lambda: httpx.get(f"{app_url(hub.url, slug)}/echo").status_code == 200)  # noqa: B023
        for client in operators:
            client.close()
        yield City(hub, kominfo, bpkad)
        kominfo.close()
        bpkad.close()


def send(base: str, path: str, times: int) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        for _ in range(times):
            client.get(path)


def app_totals(admin: AdminClient, **params: Any) -> dict[str, dict[str, Any]]:
    answer = admin.get("/traffic", **params)
    assert answer.status_code == 200, answer.text
    return {line["slug"]: line for line in answer.json()["apps"]}


def sign_in(hub: Hub, email: str) -> Browser:
    browser = Browser(hub)
    page = browser.go("/admin/")
    assert browser.login(page, email).status_code == 200
    return browser


def row_of(html: str, attribute: str, key: str) -> str:
    match = re.search(rf'<tr {attribute}="{re.escape(key)}">(.*?)</tr>', html, re.S)
    assert match, f"no row {attribute}={key}"
    return match.group(1)


def test_requests_through_the_gateway_show_in_the_api_and_on_the_page(city: City) -> None:
    base = city.hub.url
    before = 1  # the fixture's readiness probe (the 404s before the route was loaded count as unrouted)
    send(app_url(base, "parkir"), "/echo", 6)
    send(app_url(base, "parkir"), "/status?code=404", 3)
    send(app_url(base, "parkir"), "/status?code=502", 2)
    send(app_url(base, "nowhere"), "/", 1)

    try:
        eventually(lambda: app_totals(city.kominfo).get("parkir", {}).get("requests") == before + 11, timeout=10)
    except AssertionError:
        raise AssertionError(city.kominfo.get("/traffic").text[:3000]) from None
    parkir = app_totals(city.kominfo)["parkir"]
    assert (parkir["client_errors"], parkir["server_errors"], parkir["throttled"]) == (3, 2, 0)
    assert parkir["opd"] == "dishub" and 0 < parkir["p95_seconds"] < 10
    assert len(parkir["per_minute"]["requests"]) == 60 and sum(parkir["per_minute"]["requests"]) == before + 11
    send(app_url(base, "parkir"), "/echo", 3)  # past the app's limit
    eventually(lambda: app_totals(city.kominfo)["parkir"]["throttled"] == 3, timeout=10)
    parkir = app_totals(city.kominfo)["parkir"]
    assert (parkir["requests"], parkir["client_errors"], parkir["server_errors"]) == (before + 14, 6, 2)
    assert sum(parkir["per_minute"]["throttled"]) == 3
    document = city.kominfo.get("/traffic").json()
    assert document["total"]["requests"] >= before + 12  # the unrouted request counts for Kominfo
    assert "-" in {line["slug"] for line in document["apps"]}
    assert {line["slug"] for line in document["opds"]} >= {"dishub", "bpkad", "-"}

    browser = sign_in(city.hub, KOMINFO)
    page = browser.go("/admin/lalu-lintas")
    assert page.status_code == 200 and "Lalu lintas" in page.text and 'href="/admin/lalu-lintas"' in page.text
    row = row_of(page.text, "data-app", "parkir")
    assert f'data-requests="{before + 14}"' in row and 'data-throttled="3"' in row
    assert re.search(r'<svg[^>]*role="img"[^>]*aria-labelledby="app-parkir-requests-t"', row)
    assert f"Permintaan per menit, Aplikasi parkir: total {before + 14}, 4xx 6, 5xx 2, 429 3" in row
    assert "Latensi p95 per menit, Aplikasi parkir" in row and "<rect x=" in row
    assert "<polyline" in row or "<circle" in row
    assert 'data-opd="dishub"' in page.text
    browser.close()


def test_two_instances_add_up(city: City, database_url: str, tmp_path: Path) -> None:
    hub = city.hub
    before = 1  # the fixture's readiness probe
    settings = Settings(
        issuer=hub.url,
        database_url=database_url,
        data_dir=tmp_path / "second",
        secret_key="t" * 40,
        policy_dir=HUB_POLICIES,
        registry_refresh_seconds=0.2,
        traffic_flush_seconds=FLUSH,
    )
    with run_server(create_app(settings), port=free_port()) as second:
        eventually(lambda: httpx.get(f"{app_url(second, 'pajak')}/echo").status_code == 200)  # one more request
        send(app_url(second, "pajak"), "/echo", 7)
        send(app_url(hub.url, "pajak"), "/echo", 5)
        eventually(lambda: requests_of(city.kominfo, "pajak") >= before + 1, timeout=10)
    # Each instance adds its own counts (the second's last ones when it stopped): every request counted once.
    eventually(lambda: requests_of(city.kominfo, "pajak") == before + 1 + 7 + 5, timeout=10)


def requests_of(admin: AdminClient, slug: str) -> int:
    return int(app_totals(admin).get(slug, {}).get("requests", 0))


def test_an_opd_admin_sees_only_their_subtree(city: City) -> None:
    send(app_url(city.hub.url, "parkir"), "/echo", 2)
    send(app_url(city.hub.url, "pajak"), "/echo", 2)
    eventually(lambda: {"parkir", "pajak"} <= set(app_totals(city.kominfo)), timeout=10)

    seen = city.bpkad.get("/traffic").json()
    assert {line["slug"] for line in seen["apps"]} == {"pajak"}
    assert {line["slug"] for line in seen["opds"]} == {"bpkad"}
    assert seen["total"]["requests"] == seen["apps"][0]["requests"]
    refused = city.bpkad.get("/traffic", opd="dishub")
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    assert city.kominfo.get("/traffic", opd="dishub").json()["apps"][0]["slug"] == "parkir"

    browser = sign_in(city.hub, BPKAD_ADMIN)
    page = browser.go("/admin/lalu-lintas")
    assert 'data-app="pajak"' in page.text and 'data-app="parkir"' not in page.text
    assert 'value="dishub"' not in page.text  # the filter offers only their own units
    assert browser.go("/admin/lalu-lintas?opd=dishub").status_code == 403
    browser.close()


@pytest.mark.parametrize(
    "query",
    [
        "minutes=abc",
        "minutes=%C2%B2",
        "minutes=4",
        "minutes=999",
        "opd=%00",
        "opd=Dishub%20Kota",
        "limit=0",
        "opd=" + "a" * 65,
    ],
)
def test_bad_api_filters_are_problems_not_failures(city: City, query: str) -> None:
    answer = city.kominfo.http.get("/traffic?" + query)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


def test_bad_page_filters_are_a_readable_page(city: City) -> None:
    browser = sign_in(city.hub, KOMINFO)
    for query in ("menit=abc", "menit=7", "opd=%00", "opd=%3Cscript%3E", "mulai=-1", "mulai=%C2%B2"):
        page = browser.go("/admin/lalu-lintas?" + query)
        assert page.status_code == 400 and "Saringan tidak sah" in page.text, query
        assert "<script>" not in page.text
    assert browser.go("/admin/lalu-lintas?opd=tidak-ada").status_code == 404
    assert browser.go("/admin/lalu-lintas?menit=15&opd=").status_code == 200
    browser.close()
