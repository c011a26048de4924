"""The console's edit pages: change an app, a client, an OPD unit; rotate a client secret and remove things only
after typing their name; OPD admins are refused; every change is audited with the administrator and a diff."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.app import create_app
from gateway.apps import add_app
from idp.clients import is_secret_valid
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.gateway_models import App
from idp.storage.models import Client, OpdUnit
from tests.support.admin import DISHUB_ADMIN, KOMINFO, run_seed
from tests.support.cli_env import audit_entries, run_query
from tests.support.hub import TEST_UPSTREAM_ADDRESSES, Browser, Hub, csrf_from, run_hub


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with run_hub(database_url, tmp_path, app_factory=create_app) as running:
        people = run_seed(database_url, running.seeded.users)
        running.seeded.users.update(people.users)
        asyncio.run(_add_app(database_url, running.url))
        yield running


async def _add_app(database_url: str, issuer: str) -> None:
    engine = build_engine(database_url)
    try:
        async with build_sessionmaker(engine)() as session, session.begin():
            await add_app(
                session,
                slug="parkir",
                name="Parkir",
                opd_slug="dishub",
                upstreams=("http://127.0.0.1:9",),
                auth_mode="session",
                issuer=issuer,
                now=int(time.time()),
                addresses=TEST_UPSTREAM_ADDRESSES,
            )
    finally:
        await engine.dispose()


def _signed_in(hub: Hub, email: str = KOMINFO) -> Browser:
    browser = Browser(hub)
    assert browser.login(browser.go("/admin/"), email).status_code == 200
    return browser


def test_edit_an_app_from_the_list(hub: Hub, database_url: str) -> None:
    kominfo = _signed_in(hub)
    apps = kominfo.go("/admin/aplikasi")
    assert 'href="/admin/ubah/aplikasi/parkir"' in apps.text
    form = kominfo.go("/admin/ubah/aplikasi/parkir")
    assert form.status_code == 200 and "http://127.0.0.1:9" in form.text
    done = kominfo.submit(
        "/admin/aksi/ubah/aplikasi/parkir",
        {
            "csrf_token": csrf_from(form.text),
            "name": "Parkir Online",
            "upstreams": "http://127.0.0.1:9\nhttp://127.0.0.1:10",
            "auth_mode": "session",
            "hosts": "parkir.dishub.test\nParkir.Palembang.go.id\n",
            "client_id": "",
            "restricted": "on",
        },
    )
    assert done.status_code == 200 and 'id="changes"' in done.text and "Parkir Online" in done.text
    (row,) = run_query(database_url, select(App.name, App.upstreams, App.restricted).where(App.slug == "parkir"))
    assert tuple(row) == ("Parkir Online", ["http://127.0.0.1:9", "http://127.0.0.1:10"], True)
    entry = audit_entries(database_url)[-1]
    assert entry.action == "app.update" and entry.actor == hub.seeded.users[KOMINFO]
    assert set(entry.detail["diff"]) == {"name", "upstreams", "restricted", "hosts"}
    assert entry.detail["diff"]["hosts"]["to"] == ["parkir.dishub.test", "parkir.palembang.go.id"]
    assert "parkir.dishub.test\nparkir.palembang.go.id</textarea>" in kominfo.go("/admin/ubah/aplikasi/parkir").text
    # The claims its assertion carries: the default set shown checked; the boxes ticked are what it gets.
    form = kominfo.go("/admin/ubah/aplikasi/parkir")
    assert 'name="claim_name" aria-describedby="claims-hint" checked' in form.text
    claims = kominfo.submit(
        "/admin/aksi/ubah/aplikasi/parkir",
        {
            "csrf_token": csrf_from(form.text),
            "name": "Parkir Online",
            "upstreams": "http://127.0.0.1:9\nhttp://127.0.0.1:10",
            "auth_mode": "session",
            "hosts": "parkir.dishub.test\nparkir.palembang.go.id",
            "restricted": "on",
            "claims_form": "1",
            "claim_email": "on",
            "claim_roles": "on",
        },
    )
    assert claims.status_code == 200, claims.text
    (stored,) = run_query(database_url, select(App.claims).where(App.slug == "parkir"))
    assert stored[0] == ["email", "roles"] and set(audit_entries(database_url)[-1].detail["diff"]) == {"claims"}
    bad = kominfo.submit(
        "/admin/aksi/ubah/aplikasi/parkir",
        {"csrf_token": csrf_from(form.text), "name": "X", "upstreams": "ftp://x", "auth_mode": "session"},
    )
    assert bad.status_code == 400 and "upstream" in bad.text
    kominfo.close()


def test_the_app_form_sets_the_integrity_mode(hub: Hub, database_url: str) -> None:
    kominfo = _signed_in(hub)
    form = kominfo.go("/admin/ubah/aplikasi/parkir")
    assert 'name="integrity"' in form.text and '<option value="none" selected>' in form.text
    fields = {
        "csrf_token": csrf_from(form.text),
        "name": "Parkir",
        "upstreams": "http://127.0.0.1:9",
        "auth_mode": "session",
        "integrity": "ledger",
    }
    done = kominfo.submit("/admin/aksi/ubah/aplikasi/parkir", fields)
    assert done.status_code == 200, done.text
    assert run_query(database_url, select(App.integrity).where(App.slug == "parkir"))[0][0] == "ledger"
    assert '<option value="ledger" selected>' in kominfo.go("/admin/ubah/aplikasi/parkir").text
    bad = kominfo.submit("/admin/aksi/ubah/aplikasi/parkir", {**fields, "integrity": "notarised"})
    assert bad.status_code == 400 and "integrity" in bad.text
    kominfo.close()


def test_removal_needs_the_typed_name(hub: Hub, database_url: str) -> None:
    kominfo = _signed_in(hub)
    confirm = kominfo.go("/admin/hapus/aplikasi/parkir")
    assert confirm.status_code == 200 and "Parkir" in confirm.text and 'name="confirm"' in confirm.text
    csrf = csrf_from(confirm.text)
    for typed in ("", "parkir-lain"):
        refused = kominfo.submit("/admin/aksi/hapus/aplikasi/parkir", {"csrf_token": csrf, "confirm": typed})
        assert refused.status_code == 400
    assert run_query(database_url, select(App.id).where(App.slug == "parkir")) != []
    done = kominfo.submit("/admin/aksi/hapus/aplikasi/parkir", {"csrf_token": csrf, "confirm": "parkir"})
    assert done.status_code == 200
    assert run_query(database_url, select(App.id).where(App.slug == "parkir")) == []
    assert audit_entries(database_url)[-1].action == "app.remove"
    busy = kominfo.submit("/admin/aksi/hapus/opd/dishub", {"csrf_token": csrf, "confirm": "dishub"})
    assert busy.status_code == 409 and run_query(database_url, select(OpdUnit.id).where(OpdUnit.slug == "dishub"))
    kominfo.close()


def test_rotate_a_client_secret_with_a_grace_period(hub: Hub, database_url: str) -> None:
    client_id, old_secret = hub.client("Parkir Dishub")
    assert old_secret is not None
    kominfo = _signed_in(hub)
    form = kominfo.go(f"/admin/ubah/klien/{client_id}")
    assert form.status_code == 200 and "grace_minutes" in form.text
    csrf = csrf_from(form.text)
    unconfirmed = kominfo.submit(f"/admin/aksi/rahasia/klien/{client_id}", {"csrf_token": csrf, "grace_minutes": "5"})
    assert unconfirmed.status_code == 400
    done = kominfo.submit(
        f"/admin/aksi/rahasia/klien/{client_id}", {"csrf_token": csrf, "grace_minutes": "5", "confirm": client_id}
    )
    match = re.search(r'id="client-secret">([^<]+)<', done.text)
    assert done.status_code == 200 and match
    (row,) = run_query(database_url, select(Client).where(Client.client_id == client_id))
    now = time.time()
    assert is_secret_valid(row[0], match.group(1), now) and is_secret_valid(row[0], old_secret, now)
    assert not is_secret_valid(row[0], old_secret, now + 301)
    renamed = kominfo.submit(
        f"/admin/aksi/ubah/klien/{client_id}",
        {
            "csrf_token": csrf,
            "name": "Parkir Dishub Baru",
            "redirect_uris": "http://127.0.0.1:9/cb",
            "post_logout_redirect_uris": "",
            "scope": "openid profile",
            "resources": "",
            "backchannel_logout_uri": "",
        },
    )
    assert renamed.status_code == 200 and "Parkir Dishub Baru" in renamed.text
    kominfo.close()


def test_edit_and_move_an_opd_unit(hub: Hub, database_url: str) -> None:
    kominfo = _signed_in(hub)
    form = kominfo.go("/admin/ubah/opd/bpkad")
    assert form.status_code == 200
    done = kominfo.submit(
        "/admin/aksi/ubah/opd/bpkad",
        {"csrf_token": csrf_from(form.text), "name": "BPKAD Kota", "kind": "badan", "parent": "dishub"},
    )
    assert done.status_code == 200
    (row,) = run_query(database_url, select(OpdUnit.name, OpdUnit.path).where(OpdUnit.slug == "bpkad"))
    assert row[0] == "BPKAD Kota" and row[1].endswith("/dishub/bpkad/")
    assert [e.action for e in audit_entries(database_url)][-2:] == ["opd.update", "opd.move"]
    kominfo.close()


def test_an_opd_admin_cannot_use_the_edit_pages(hub: Hub) -> None:
    admin = _signed_in(hub, DISHUB_ADMIN)
    assert admin.go("/admin/ubah/aplikasi/parkir").status_code == 403
    assert admin.go("/admin/hapus/aplikasi/parkir").status_code == 403
    csrf = csrf_from(admin.go("/admin/aplikasi").text)
    assert (
        admin.submit("/admin/aksi/hapus/aplikasi/parkir", {"csrf_token": csrf, "confirm": "parkir"}).status_code == 403
    )
    admin.close()


def test_a_user_is_renamed_by_whoever_manages_them(hub: Hub, database_url: str) -> None:
    from tests.support.admin import UPT_ASN

    target = hub.seeded.users[UPT_ASN]
    admin = _signed_in(hub, DISHUB_ADMIN)
    assert f'href="/admin/ubah/pengguna/{target}"' in admin.go("/admin/pengguna").text
    form = admin.go(f"/admin/ubah/pengguna/{target}")
    assert form.status_code == 200 and UPT_ASN in form.text
    done = admin.submit(
        f"/admin/aksi/ubah/pengguna/{target}",
        {"csrf_token": csrf_from(form.text), "name": "Andi Perparkiran", "email": UPT_ASN},
    )
    assert done.status_code == 200 and "Andi Perparkiran" in done.text
    entry = audit_entries(database_url)[-1]
    assert entry.action == "user.update" and entry.detail["diff"]["name"]["to"] == "Andi Perparkiran"
    assert admin.go(f"/admin/ubah/pengguna/{hub.seeded.users[KOMINFO]}").status_code == 403
    admin.close()
