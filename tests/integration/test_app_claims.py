"""Per-app assertion claims on a real hub (both backends): set by the CLI, ``apply`` and the admin API, carried by
the assertion an app receives, bounded by policy for the NIK; the processing register names them, and so does the
citizen's access history (which claims each app received)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import yaml

from gateway.app import create_app as create_hub
from gateway.claims import CLAIMS
from idp.clock import FrozenClock
from idp.storage.gateway_models import App, GatewayAccess
from idp.storage.models import User
from tests.integration.test_access_history import eventually, register
from tests.integration.test_data_rights import WARGA, app_path, clock  # noqa: F401 (fixture)
from tests.integration.test_pdp_console import seed_admins
from tests.support.admin import KOMINFO, AdminClient, admin_token
from tests.support.audit import gerbang
from tests.support.clock import app_with_clock
from tests.support.hub import HUB_POLICIES, Browser, Hub, run_hub
from tests.support.records import rows, update_row
from tests.support.server import run_server
from tests.support.upstream import Upstream

NIK = "1671015203950002"
NIK_RULE = """provider:
  scopes:
    - id: nik-for-cctv-only
      scopes: [nik]
      clients: [cctv]
"""


@pytest.fixture
def hub(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[Hub]:
    policies = tmp_path / "policies"
    shutil.copytree(HUB_POLICIES, policies)
    (policies / "30-nik.yaml").write_text(NIK_RULE, encoding="utf-8")
    with run_server(Upstream("parkir")) as parkir, run_server(Upstream("cctv")) as cctv:
        with run_hub(
            database_url,
            tmp_path,
            app_factory=app_with_clock(clock, create_hub),
            policy_dir=policies,
            registry_refresh_seconds=0.2,
            access_history_flush_seconds=0.2,
        ) as running:
            asyncio.run(register(database_url, running.url, {"parkir": parkir, "cctv": cctv}))
            [user] = rows(database_url, User, User.email == WARGA)
            update_row(database_url, User, user.id, nik=NIK)
            assert eventually(lambda: Browser(running).go(app_path(running, "parkir")).status_code != 404)
            yield running


def assertion_at(browser: Browser, hub: Hub, slug: str) -> dict[str, object]:
    echo = browser.go(app_path(hub, slug)).json()
    token = next(value for name, value in echo["headers"] if name.lower() == "x-gerbang-assertion")
    return jwt.decode(token, options={"verify_signature": False})


def env(hub: Hub) -> dict[str, str]:
    return {
        "GERBANG_DATABASE_URL": hub.settings.database_url,
        "GERBANG_SECRET_KEY": "t" * 40,
        "GERBANG_DATA_DIR": str(hub.settings.data_dir),
        "GERBANG_ISSUER": hub.url,
    }


def test_each_app_receives_its_claims_and_the_nik_only_where_policy_allows(hub: Hub, clock: FrozenClock) -> None:
    warga = Browser(hub)
    assert warga.login(warga.go(app_path(hub, "parkir")), WARGA).status_code == 200
    before = assertion_at(warga, hub, "parkir")
    assert {"name", "roles", "acr"} <= set(before) and "email" not in before and "nik" not in before
    updated = gerbang(env(hub), "apps", "update", "parkir", "--claims", "email,nik,roles", "--json")
    assert updated.exit_code == 0, updated.output
    assert json.loads(updated.stdout)["diff"]["claims"]["to"] == ["email", "nik", "roles"]
    typo = gerbang(env(hub), "apps", "update", "parkir", "--claims", "email,nikk")
    assert typo.exit_code != 0 and "unknown claim(s) nikk" in typo.output
    seed_admins(hub, clock)
    api = AdminClient(hub, admin_token(hub, KOMINFO))
    try:
        patched = api.http.patch("/apps/cctv", json={"claims": ["name", "nik", "nip"]})
        assert patched.status_code == 200, patched.text
        assert patched.json()["claims"] == ["name", "nik", "nip"]
        assert api.http.patch("/apps/cctv", json={"claims": ["password"]}).status_code == 400
        register_entries = {e["app"]: e for e in api.get("/pdp/register").json()["items"]}
        assert "nik" in register_entries["cctv"]["claims"] and "email" in register_entries["parkir"]["claims"]
    finally:
        api.close()

    def carried(slug: str, wanted: set[str]) -> bool:
        return wanted <= set(assertion_at(warga, hub, slug))

    assert eventually(lambda: carried("parkir", {"email"})), assertion_at(warga, hub, "parkir")
    assert eventually(lambda: carried("cctv", {"nik"})), assertion_at(warga, hub, "cctv")
    parkir, cctv = assertion_at(warga, hub, "parkir"), assertion_at(warga, hub, "cctv")
    assert parkir["email"] == WARGA and parkir["roles"] == [] and "nik" not in parkir  # no rule releases it
    assert not {"name", "opd", "acr"} & set(parkir)
    assert cctv["nik"] == NIK and cctv["name"] and "nip" not in cctv  # no NIP on this account
    assert not {"email", "roles"} & set(cctv)
    back = gerbang(env(hub), "apps", "update", "parkir", "--claims", "default")
    assert back.exit_code == 0, back.output
    assert eventually(lambda: "email" not in assertion_at(warga, hub, "parkir"))


def test_apply_sets_the_claims_and_a_second_apply_changes_nothing(hub: Hub, tmp_path: Path) -> None:
    apps = {app.slug: app for app in rows(hub.settings.database_url, App)}
    document = {
        "apps": [
            {
                "slug": "parkir",
                "opd": "dishub",
                "upstreams": apps["parkir"].upstreams,
                "auth_mode": "session",
                "claims": ["roles", "email"],
            }
        ]
    }
    city = tmp_path / "city.yaml"
    city.write_text(yaml.safe_dump(document), "utf-8")
    applied = gerbang(env(hub), "apply", str(city))
    assert applied.exit_code == 0, applied.output
    again = gerbang(env(hub), "apply", str(city))
    assert again.exit_code == 0 and "nothing" in again.output.lower(), again.output
    stored = {app.slug: app.claims for app in rows(hub.settings.database_url, App)}
    assert stored == {"parkir": ["email", "roles"], "cctv": None}
    document["apps"][0]["claims"] = ["passwords"]
    city.write_text(yaml.safe_dump(document), "utf-8")
    assert gerbang(env(hub), "apply", str(city)).exit_code != 0


def test_the_access_history_names_the_claims_each_app_received(hub: Hub) -> None:
    database_url = hub.settings.database_url
    [user] = rows(database_url, User, User.email == WARGA)
    warga = Browser(hub)
    assert warga.login(warga.go(app_path(hub, "parkir")), WARGA).status_code == 200
    updated = gerbang(env(hub), "apps", "update", "cctv", "--claims", "name,nik,nip")
    assert updated.exit_code == 0, updated.output
    assert eventually(lambda: "nik" in assertion_at(warga, hub, "cctv"))
    parkir_carried = [claim for claim in CLAIMS if claim in assertion_at(warga, hub, "parkir")]
    assert parkir_carried and "nik" not in parkir_carried  # the defaults this person has values for

    def written() -> set[tuple[str, str | None]]:
        return {(row.app, row.claims) for row in rows(database_url, GatewayAccess, GatewayAccess.user_id == user.id)}

    assert eventually(lambda: {("parkir", " ".join(parkir_carried)), ("cctv", "name nik")} <= written()), written()

    data = warga.go("/account/data.json").json()
    gateway = [(entry["app"], entry["claims"]) for entry in data["access_history"] if entry["via"] == "gateway"]
    assert ("Layanan Parkir", parkir_carried) in gateway
    assert ("Layanan Cctv", ["name", "nik"]) in gateway  # no NIP on this account: not carried, not listed
    assert NIK not in json.dumps(data["access_history"])  # names only, never values

    page = warga.go("/account").text
    assert 'data-claims="name nik"' in page and "nama, NIK" in page
    readable = warga.go("/account/data").text
    assert "nama, NIK" in readable and "tidak tercatat" not in readable

    # A row written before the claims were recorded says so, on both pages and in the file.
    [old, *_] = rows(database_url, GatewayAccess, GatewayAccess.user_id == user.id, GatewayAccess.app == "parkir")
    update_row(database_url, GatewayAccess, old.id, claims=None)
    assert [
        e
        for e in warga.go("/account/data.json").json()["access_history"]
        if e["claims"] is None and e["via"] == "gateway"
    ]
    assert "tidak tercatat" in warga.go("/account").text and "tidak tercatat" in warga.go("/account/data").text
    assert "not recorded" in warga.go("/account/data?lang=en").text
    warga.close()
