"""The console's control pages on a real hub (both backends): the OPD tree, OAuth clients, signing keys,
policies with their hit counts, resetting a user's MFA, the navigation and the English toggle — each with its
authorization boundary (an OPD admin sees only their subtree; keys and client reviews are Kominfo's), CSRF,
re-authentication age, and bad input answered with a readable page, never a 5xx."""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy import update

from gateway.app import create_app
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.gateway_models import ConsoleSession
from tests.support.admin import (
    BPKAD_ADMIN,
    DISHUB_ADMIN,
    DISHUB_OPERATOR,
    KOMINFO,
    UPT_ASN,
    AdminCity,
    AdminClient,
    add_units,
    admin_token,
    give_mfa,
    mfa_of,
    run_seed,
    set_client_status,
)
from tests.support.eventually import eventually
from tests.support.hub import HUB_POLICIES, Browser, Hub, run_hub
from tests.support.server import run_server
from tests.support.upstream import Upstream

RULES = """
rules:
  - id: {prefix}-no-deletes
    effect: deny
    match: {{apps: [parkir], methods: [DELETE]}}
  - id: {prefix}-trial-posts
    description: Would stop writes; watched before it is enforced.
    effect: report-only
    would: deny
    match: {{apps: [parkir], methods: [POST], paths: [/tiket/**]}}
"""


@dataclass
class City:
    hub: Hub
    people: AdminCity
    prefix: str  # of this hub's policy rule ids (the hit counter is process-wide)

    @property
    def database_url(self) -> str:
        return self.hub.settings.database_url


@pytest.fixture
def city(database_url: str, tmp_path: Path) -> Iterator[City]:
    prefix = "r" + secrets.token_hex(4)
    policies = tmp_path / "policies"
    shutil.copytree(HUB_POLICIES, policies)
    (policies / "10-rules.yaml").write_text(RULES.format(prefix=prefix), encoding="utf-8")
    with run_server(Upstream("parkir")) as upstream:
        with run_hub(
            database_url, tmp_path, app_factory=create_app, registry_refresh_seconds=0.2, policy_dir=policies
        ) as hub:
            people = run_seed(database_url, hub.seeded.users)
            operator = AdminClient(hub, admin_token(hub, DISHUB_OPERATOR))
            submitted = operator.post(
                "/apps",
                {
                    "slug": "parkir",
                    "name": "Parkir Online",
                    "opd": "dishub",
                    "upstreams": [upstream],
                    "auth_mode": "none",
                    "contact": "tik@dishub.example.id",
                },
            )
            assert submitted.status_code == 201, submitted.text
            operator.close()
            yield City(hub, people, prefix)


def sign_in(hub: Hub, email: str) -> Browser:
    browser = Browser(hub)
    page = browser.go("/admin/")
    landed = browser.login(page, email)
    assert landed.status_code == 200, landed.text
    return browser


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def rows(html: str, attribute: str = "data-slug") -> list[str]:
    return re.findall(rf'<tr {attribute}="([^"]+)"', html)


def is_page(response: httpx.Response, status: int) -> bool:
    """A readable console page (HTML with the error heading for errors), not problem+json, not a 5xx."""
    return (
        response.status_code == status
        and response.headers["content-type"].startswith("text/html")
        and ("Tidak dapat diproses" in response.text or "Cannot be processed" in response.text) == (status >= 400)
    )


# --- OPD tree ---------------------------------------------------------------------------------------------------


def test_opd_tree_shows_one_level_with_counts_and_pages_a_city_sized_unit(city: City) -> None:
    add_units(city.database_url, "bpkad", 120)
    kominfo = sign_in(city.hub, KOMINFO)
    top = kominfo.go("/admin/opd")
    assert is_page(top, 200) and rows(top.text) == ["kota-palembang"]
    level = kominfo.go("/admin/opd?di=kota-palembang")
    assert rows(level.text) == ["bpkad", "dishub", "diskominfo"]
    dishub = re.search(r'<tr data-slug="dishub">(.*?)</tr>', level.text, re.S)
    assert dishub is not None
    assert '<td class="count-children">1</td>' in dishub.group(1)  # upt-parkir
    assert '<td class="count-apps">1 / 1</td>' in dishub.group(1)  # the pending parkir app
    assert '<td class="count-users">2</td>' in dishub.group(1)  # its operator and its admin
    branch = kominfo.go("/admin/opd?di=dishub")
    assert rows(branch.text) == ["upt-parkir"] and 'href="/admin/opd?di=kota-palembang"' in branch.text
    first = kominfo.go("/admin/opd?di=bpkad")
    assert len(rows(first.text)) == 50 and 'rel="next"' in first.text and 'rel="prev"' not in first.text
    last = kominfo.go("/admin/opd?di=bpkad&offset=100")
    assert len(rows(last.text)) == 20 and 'rel="next"' not in last.text and 'rel="prev"' in last.text
    found = kominfo.go("/admin/opd?q=kelurahan+119")
    assert rows(found.text) == ["bpkad-kelurahan-119"]
    kominfo.close()


def test_an_opd_admin_sees_only_their_subtree_of_the_tree(city: City) -> None:
    dishub = sign_in(city.hub, DISHUB_ADMIN)
    top = dishub.go("/admin/opd")
    assert rows(top.text) == ["dishub"]
    own = dishub.go("/admin/opd?di=dishub")
    assert rows(own.text) == ["upt-parkir"]
    assert 'href="/admin/opd?di=kota-palembang"' not in own.text  # the parent is named, not opened
    for outside in ("bpkad", "kota-palembang", "diskominfo"):
        assert is_page(dishub.go(f"/admin/opd?di={outside}"), 403)
    assert rows(dishub.go("/admin/opd?q=bpkad").text) == []
    dishub.close()


@pytest.mark.parametrize(
    "query,status", [("di=no-such-unit", 404), ("offset=abc", 400), ("offset=-5", 400), ("offset=99999999999", 400)]
)
def test_bad_tree_input_is_a_readable_page(city: City, query: str, status: int) -> None:
    kominfo = sign_in(city.hub, KOMINFO)
    assert is_page(kominfo.go(f"/admin/opd?{query}"), status)
    kominfo.close()


# --- clients ----------------------------------------------------------------------------------------------------


def test_kominfo_suspends_resumes_and_approves_clients_and_each_is_audited(city: City) -> None:
    kominfo = sign_in(city.hub, KOMINFO)
    page = kominfo.go("/admin/klien")
    listed = rows(page.text, "data-client-id")
    client_id, secret = city.hub.client("Bapenda Integrasi")
    portal, _ = city.hub.client("Portal Kominfo")
    assert client_id in listed and portal in listed
    assert f"/admin/aksi/klien/{portal}/" not in page.text  # the hub's own clients are not reviewed here

    def token_status() -> int:
        return httpx.post(
            f"{city.hub.url}/auth/token",
            auth=(client_id, secret or ""),
            data={"grant_type": "client_credentials", "scope": "anggaran:read"},
        ).status_code

    assert token_status() == 200
    suspended = kominfo.submit(f"/admin/aksi/klien/{client_id}/suspend", {"csrf_token": csrf_of(page.text)})
    assert is_page(suspended, 200) and client_id in suspended.text
    assert token_status() in (400, 401)  # this instance forgot its cached copy at once
    assert rows(kominfo.go("/admin/klien?status=suspended").text, "data-client-id") == [client_id]
    assert is_page(kominfo.submit(f"/admin/aksi/klien/{client_id}/suspend", {"csrf_token": csrf_of(page.text)}), 409)
    assert is_page(kominfo.submit(f"/admin/aksi/klien/{client_id}/resume", {"csrf_token": csrf_of(page.text)}), 200)
    assert token_status() == 200
    parkir, _ = city.hub.client("Parkir Dishub")
    set_client_status(city.database_url, parkir, "pending")
    assert f"/admin/aksi/klien/{parkir}/approve" in kominfo.go("/admin/klien?status=pending").text
    assert is_page(kominfo.submit(f"/admin/aksi/klien/{parkir}/approve", {"csrf_token": csrf_of(page.text)}), 200)
    audit = kominfo.go("/admin/audit").text.split("<tbody>")[1]  # the rows, not the action filter's list
    for action in ("client.suspend", "client.resume", "client.approve"):
        assert f'title="{action}"' in audit
    kominfo.close()


def test_an_opd_admin_sees_their_clients_but_cannot_review_them(city: City) -> None:
    dishub = sign_in(city.hub, DISHUB_ADMIN)
    page = dishub.go("/admin/klien")
    ours = {city.hub.client("Parkir Dishub")[0], city.hub.client("Bapenda Integrasi")[0]}
    assert set(rows(page.text, "data-client-id")) == ours and "/admin/aksi/klien/" not in page.text
    target = city.hub.client("Bapenda Integrasi")[0]
    assert is_page(dishub.submit(f"/admin/aksi/klien/{target}/suspend", {"csrf_token": csrf_of(page.text)}), 403)
    dishub.close()
    bpkad = sign_in(city.hub, BPKAD_ADMIN)
    assert rows(bpkad.go("/admin/klien").text, "data-client-id") == []
    bpkad.close()
    kominfo = sign_in(city.hub, KOMINFO)
    assert f'data-client-id="{target}"' in kominfo.go("/admin/klien?status=active").text  # still active
    kominfo.close()


@pytest.mark.parametrize("path,status", [("/admin/klien?status=nope", 400), ("/admin/klien?offset=x", 400)])
def test_bad_client_listing_input_is_a_readable_page(city: City, path: str, status: int) -> None:
    kominfo = sign_in(city.hub, KOMINFO)
    assert is_page(kominfo.go(path), status)
    kominfo.close()


def test_unknown_client_actions_and_clients_are_readable_pages(city: City) -> None:
    kominfo = sign_in(city.hub, KOMINFO)
    csrf = csrf_of(kominfo.go("/admin/klien").text)
    client_id = city.hub.client("Bapenda Integrasi")[0]
    assert is_page(kominfo.submit(f"/admin/aksi/klien/{client_id}/explode", {"csrf_token": csrf}), 404)
    assert is_page(kominfo.submit("/admin/aksi/klien/no-such-client/suspend", {"csrf_token": csrf}), 404)
    # NUL (which PostgreSQL refuses in text) is bad input, never an outage page.
    assert is_page(kominfo.submit("/admin/aksi/klien/a%00b/suspend", {"csrf_token": csrf}), 400)
    assert is_page(kominfo.submit("/admin/aksi/pengguna/a%00b/reset-mfa", {"csrf_token": csrf}), 400)
    for page in (
        "/admin/klien?q=a%00b",
        "/admin/opd?q=%00x",
        "/admin/pengguna?q=%00",
        "/admin/aplikasi?q=%00",
        "/admin/opd?di=bpkad%00",
    ):
        assert is_page(kominfo.go(page), 400), page
    rejected = kominfo.submit("/admin/aksi/aplikasi/parkir/reject", {"csrf_token": csrf, "reason": "tidak\x00aman"})
    assert is_page(rejected, 200)
    kominfo.close()


# --- keys -------------------------------------------------------------------------------------------------------


def test_kominfo_rotates_the_signing_key_and_the_new_key_is_published_before_it_signs(city: City) -> None:
    kominfo = sign_in(city.hub, KOMINFO)
    page = kominfo.go("/admin/kunci")
    (old,) = rows(page.text, "data-kid")
    assert 'class="key-active"' in page.text
    done = kominfo.submit("/admin/aksi/kunci/rotasi", {"csrf_token": csrf_of(page.text)})
    assert is_page(done, 200)
    after = kominfo.go("/admin/kunci").text
    states = dict(re.findall(r'<tr data-kid="([^"]+)" class="key-([a-z]+)">', after))
    (new,) = [kid for kid, state in states.items() if state == "next"]
    assert states == {old: "active", new: "next"} and new in done.text
    published = {key["kid"] for key in httpx.get(f"{city.hub.url}/auth/jwks").json()["keys"]}
    assert {old, new} <= published  # relying parties that cache the JWKS learn the new kid before meeting it
    token = admin_token(city.hub, DISHUB_ADMIN)
    assert jwt.get_unverified_header(token)["kid"] == old  # until key_activation_delay has passed
    assert f"key:{new}" in kominfo.go("/admin/audit").text
    kominfo.close()


def test_kominfo_revokes_a_leaked_key_from_the_keys_page(city: City) -> None:
    kominfo = sign_in(city.hub, KOMINFO)
    page = kominfo.go("/admin/kunci")
    (leaked,) = rows(page.text, "data-kid")
    done = kominfo.submit(f"/admin/aksi/kunci/{leaked}/cabut", {"csrf_token": csrf_of(page.text)})
    assert is_page(done, 200) and leaked in done.text and "dicabut" in done.text
    after = kominfo.go("/admin/kunci").text
    states = dict(re.findall(r'<tr data-kid="([^"]+)" class="key-([a-z]+)">', after))
    (new,) = [kid for kid, state in states.items() if state == "active"]
    assert states == {leaked: "expired", new: "active"} and new in done.text
    assert f"/admin/aksi/kunci/{leaked}/cabut" not in after  # nothing left to revoke on that row
    assert leaked not in {key["kid"] for key in httpx.get(f"{city.hub.url}/auth/jwks").json()["keys"]}
    assert jwt.get_unverified_header(admin_token(city.hub, DISHUB_ADMIN))["kid"] == new
    assert f"key:{leaked}" in kominfo.go("/admin/audit").text
    kominfo.close()


def test_keys_are_kominfos_alone(city: City) -> None:
    for email in (DISHUB_ADMIN, DISHUB_OPERATOR):
        other = sign_in(city.hub, email)
        queue = other.go("/admin/antrean")
        assert 'href="/admin/kunci"' not in queue.text and 'href="/admin/audit"' not in queue.text
        assert is_page(other.go("/admin/kunci"), 403)
        assert is_page(other.submit("/admin/aksi/kunci/rotasi", {"csrf_token": csrf_of(queue.text)}), 403)
        assert is_page(other.submit("/admin/aksi/kunci/x/cabut", {"csrf_token": csrf_of(queue.text)}), 403)
        other.close()
    kominfo = sign_in(city.hub, KOMINFO)
    assert len(rows(kominfo.go("/admin/kunci").text, "data-kid")) == 1  # nothing rotated
    kominfo.close()


# --- policies ---------------------------------------------------------------------------------------------------


def test_policies_page_shows_the_active_rules_and_their_hits(city: City) -> None:
    kominfo = sign_in(city.hub, KOMINFO)
    queue = kominfo.go("/admin/antrean")
    assert is_page(kominfo.submit("/admin/aksi/aplikasi/parkir/approve", {"csrf_token": csrf_of(queue.text)}), 200)
    app = f"{city.hub.app_url('parkir')}"
    assert eventually(lambda: httpx.get(f"{app}/echo").status_code == 200)
    assert httpx.delete(f"{app}/tiket/1").status_code == 403
    assert httpx.delete(f"{app}/tiket/2").status_code == 403
    assert httpx.post(f"{app}/tiket/3", content=b"{}").status_code == 200  # report-only: let through
    operator = sign_in(city.hub, DISHUB_OPERATOR)  # any admin role reads the policies
    page = operator.go("/admin/kebijakan")
    assert is_page(page, 200)
    deny = re.search(rf'<tr data-rule="{city.prefix}-no-deletes" class="effect-deny">(.*?)</tr>', page.text, re.S)
    trial = re.search(
        rf'<tr data-rule="{city.prefix}-trial-posts" class="effect-report-only">(.*?)</tr>', page.text, re.S
    )
    assert deny is not None and trial is not None
    assert "10-rules.yaml" in deny.group(1) and "apps: parkir; methods: DELETE" in deny.group(1)
    assert '<span data-effect="deny">tolak: 2</span>' in deny.group(1)
    assert '<td class="report-only">ya</td>' in trial.group(1) and '<td class="report-only">—</td>' in deny.group(1)
    assert '<span data-effect="report-only">hanya laporan: 1</span>' in trial.group(1)
    assert "paths: /tiket/**" in trial.group(1)
    metrics = httpx.get(f"{city.hub.url}/metrics").text
    assert f'gerbang_policy_rule_hits_total{{effect="deny",rule="{city.prefix}-no-deletes"}} 2.0' in metrics
    api = AdminClient(city.hub, admin_token(city.hub, DISHUB_OPERATOR))  # the admin API says the same
    described = {rule["id"]: rule for rule in api.get("/policies").json()["rules"]}
    assert described[f"{city.prefix}-no-deletes"]["hits"] == {"deny": 2}
    assert described[f"{city.prefix}-trial-posts"] == {
        "id": f"{city.prefix}-trial-posts",
        "file": "10-rules.yaml",
        "effect": "report-only",
        "would": "deny",
        "match": "apps: parkir; methods: POST; paths: /tiket/**",
        "report_only": True,
        "hits": {"report-only": 1},
    }
    api.close()
    operator.close()
    kominfo.close()


# --- users: reset MFA -------------------------------------------------------------------------------------------


def test_an_opd_admin_resets_mfa_of_someone_in_their_subtree_only(city: City) -> None:
    target = city.people.users[UPT_ASN]
    give_mfa(city.database_url, target)
    bpkad = sign_in(city.hub, BPKAD_ADMIN)
    csrf = csrf_of(bpkad.go("/admin/pengguna").text)
    assert is_page(bpkad.submit(f"/admin/aksi/pengguna/{target}/reset-mfa", {"csrf_token": csrf}), 403)
    bpkad.close()
    dishub = sign_in(city.hub, DISHUB_ADMIN)
    users = dishub.go("/admin/pengguna")
    assert f'action="/admin/aksi/pengguna/{target}/reset-mfa"' in users.text
    assert mfa_cell(users.text, UPT_ASN) == "aktif"
    assert is_page(dishub.submit(f"/admin/aksi/pengguna/{target}/reset-mfa", {"csrf_token": "forged"}), 403)
    assert mfa_of(city.database_url, target) == (True, 1, 3)  # refused twice, nothing removed
    done = dishub.submit(f"/admin/aksi/pengguna/{target}/reset-mfa", {"csrf_token": csrf_of(users.text)})
    assert is_page(done, 200) and "MFA pengguna direset" in done.text
    assert mfa_of(city.database_url, target) == (False, 0, 0)
    assert mfa_cell(dishub.go("/admin/pengguna").text, UPT_ASN) == "—"
    dishub.close()
    kominfo = sign_in(city.hub, KOMINFO)
    rows_html = kominfo.go("/admin/audit").text.split("<tbody>")[1]
    assert f'title="user:{target}"' in rows_html and 'title="user.reset_mfa"' in rows_html
    kominfo.close()


def mfa_cell(html: str, email: str) -> str:
    row = re.search(rf'<tr data-email="{re.escape(email)}">(.*?)</tr>', html, re.S)
    assert row is not None
    cell = re.search(r'<td class="mfa">(.*?)</td>', row.group(1))
    assert cell is not None
    return cell.group(1)


# --- plumbing shared by every page: CSRF, re-authentication, navigation, language -------------------------------


def test_new_actions_need_the_csrf_token_and_a_recent_sign_in(city: City) -> None:
    kominfo = sign_in(city.hub, KOMINFO)
    client_id = city.hub.client("Bapenda Integrasi")[0]
    actions = [
        "/admin/aksi/kunci/rotasi",
        f"/admin/aksi/klien/{client_id}/suspend",
        f"/admin/aksi/pengguna/{city.people.users[UPT_ASN]}/reset-mfa",
    ]
    for action in actions:
        for token in ("", "forged"):
            assert is_page(kominfo.submit(action, {"csrf_token": token}), 403)
    csrf = csrf_of(kominfo.go("/admin/klien").text)
    assert len(rows(kominfo.go("/admin/kunci").text, "data-kid")) == 1
    assert "client." not in kominfo.go("/admin/audit").text.split("<tbody>")[1]

    async def age_sessions() -> None:
        engine = build_engine(city.database_url)
        async with build_sessionmaker(engine)() as session, session.begin():
            await session.execute(update(ConsoleSession).values(expires_at=0))
        await engine.dispose()

    asyncio.run(age_sessions())
    for action in actions:
        response = kominfo.http.post(action, data={"csrf_token": csrf})
        assert response.status_code == 303 and response.headers["location"] == "/admin/login"
    for page in ("/admin/opd", "/admin/klien", "/admin/kunci", "/admin/kebijakan"):
        assert kominfo.http.get(page).headers["location"] == "/admin/login"
    kominfo.close()


def test_the_navigation_links_every_page(city: City) -> None:
    kominfo = sign_in(city.hub, KOMINFO)
    pages = [
        "/admin/antrean",
        "/admin/aplikasi",
        "/admin/klien",
        "/admin/opd",
        "/admin/pengguna",
        "/admin/ajukan",
        "/admin/kebijakan",
        "/admin/lalu-lintas",
        "/admin/kunci",
        "/admin/audit",
        "/admin/pdp",
        "/admin/penyedia-identitas",
    ]
    for page in pages:
        html = kominfo.go(page).text
        nav = re.search(r'<nav id="console-nav">(.*?)</nav>', html, re.S)
        assert nav is not None, page
        assert re.findall(r'href="([^"]+)"', nav.group(1)) == pages
        assert f'href="{page}" aria-current="page"' in nav.group(1)
    kominfo.close()


def test_the_console_speaks_english_on_request_and_remembers_it(city: City) -> None:
    kominfo = sign_in(city.hub, KOMINFO)
    indonesian = kominfo.go("/admin/klien?status=active")
    assert '<html lang="id">' in indonesian.text and "Pohon OPD" in indonesian.text
    assert 'href="/admin/klien?status=active&amp;lang=en"' in indonesian.text
    english = kominfo.go("/admin/klien?status=active&lang=en")
    assert '<html lang="en">' in english.text and "OPD tree" in english.text and "Pohon OPD" not in english.text
    assert kominfo.http.cookies.get("gerbang_lang") == "en"
    later = kominfo.go("/admin/kebijakan")
    assert "Policies" in later.text and "Kebijakan" not in later.text
    refused = kominfo.submit("/admin/aksi/kunci/rotasi", {"csrf_token": "forged"})
    assert "Cannot be processed" in refused.text and "The form token is not valid" in refused.text
    back = kominfo.go("/admin/opd?lang=id")
    assert '<html lang="id">' in back.text and kominfo.http.cookies.get("gerbang_lang") == "id"
    kominfo.close()


def test_the_default_language_follows_gerbang_default_locale(database_url: str, tmp_path: Path) -> None:
    with run_hub(database_url, tmp_path, app_factory=create_app, default_locale="en") as hub:
        run_seed(database_url, hub.seeded.users)
        kominfo = sign_in(hub, KOMINFO)
        page = kominfo.go("/admin/opd")
        assert '<html lang="en">' in page.text and "OPD tree" in page.text
        assert '<html lang="id">' in kominfo.go("/admin/opd?lang=id").text
        kominfo.close()
