"""Staff carry data subject requests out (console and admin API), the citizen is told and sees the status, and a
citizen withdraws consent for one gateway session app (SQLite and PostgreSQL, a real hub)."""

from __future__ import annotations

import json

from idp.clock import FrozenClock
from idp.storage.gateway_models import GatewayAccess
from idp.storage.models import AuditEntry, DataRequest, User
from tests.integration.test_access_history import eventually
from tests.integration.test_data_rights import WARGA, app_path, clock, hub  # noqa: F401 (fixtures)
from tests.integration.test_pdp_console import console, seed_admins
from tests.support.admin import DISHUB_OPERATOR, KOMINFO, AdminClient, admin_token
from tests.support.hub import Browser, Hub, csrf_from
from tests.support.outbox import body_of, messages_to
from tests.support.records import rows


def record_at_counter(browser: Browser, kind: str, person: str = WARGA, note: str = "loket kecamatan") -> int:
    page = browser.go("/admin/pdp/permintaan")
    done = browser.submit(
        "/admin/aksi/pdp/permintaan", {"person": person, "kind": kind, "note": note, "csrf_token": csrf_from(page.text)}
    )
    assert done.status_code == 200, done.text
    return max(row.id for row in rows(browser.hub.settings.database_url, DataRequest))


def carry_out(browser: Browser, request_id: int, **fields: str):  # type: ignore[no-untyped-def]
    page = browser.go(f"/admin/pdp/permintaan/{request_id}")
    assert page.status_code == 200, page.text
    return browser.submit(
        f"/admin/aksi/pdp/permintaan/{request_id}/selesai", {**fields, "csrf_token": csrf_from(page.text)}
    )


def is_in_app(browser: Browser, hub: Hub, slug: str) -> bool:
    """Signed in at the app: the gateway forwards instead of sending the browser to sign in."""
    return browser.http.get(app_path(hub, slug), follow_redirects=False).status_code == 200


def test_a_correction_at_the_counter_is_carried_out_audited_mailed_and_shown(hub: Hub, clock: FrozenClock) -> None:
    admins = seed_admins(hub, clock)
    staff = console(hub)
    request_id = record_at_counter(staff, "correct")
    page = staff.go(f"/admin/pdp/permintaan/{request_id}")
    assert "Pasal 6 &amp; 30" in page.text and 'id="fulfil"' in page.text
    done = carry_out(staff, request_id, name="Siti Aminah Binti Ali")
    assert done.status_code == 200, done.text
    url = hub.settings.database_url
    [user] = rows(url, User, User.email == WARGA)
    [request] = rows(url, DataRequest, DataRequest.id == request_id)
    assert user.name == "Siti Aminah Binti Ali" and request.status == "done" and "nama" in request.outcome
    # The audit names the fields, never the values (the chain cannot be erased later).
    update = [e for e in rows(url, AuditEntry, AuditEntry.action == "user.update")][-1]
    assert update.detail == {"fields": ["name"]} and update.actor == admins.users[KOMINFO]
    assert "Siti" not in json.dumps([e.detail for e in rows(url, AuditEntry)])
    outbox = hub.settings.effective_mail_outbox
    assert outbox is not None
    [mail] = messages_to(outbox, WARGA)
    assert "selesai" in mail["Subject"] and "/account/privacy" in body_of(mail)
    # The citizen reads the status on her own page.
    warga = Browser(hub)
    assert warga.login(warga.go(app_path(hub, "parkir")), WARGA).status_code == 200
    privacy = warga.go("/account/privacy")
    assert 'class="my-request" data-kind="correct" data-status="done"' in privacy.text
    assert "perbaikan data" in privacy.text and "WIB" in privacy.text
    # Carried out once: a second attempt is a conflict, shown, not a 500.
    again = staff.submit(
        f"/admin/aksi/pdp/permintaan/{request_id}/selesai",
        {"name": "Lain", "csrf_token": csrf_from(staff.go("/admin/pdp/permintaan").text)},
    )
    assert again.status_code == 409


def test_an_objection_for_a_gateway_app_ends_its_sessions_and_a_refusal_is_told(hub: Hub, clock: FrozenClock) -> None:
    seed_admins(hub, clock)
    warga = Browser(hub)
    assert warga.login(warga.go(app_path(hub, "parkir")), WARGA).status_code == 200
    assert warga.go(app_path(hub, "cctv")).status_code == 200
    eventually(lambda: len(rows(hub.settings.database_url, GatewayAccess)) >= 2)
    staff = console(hub)
    request_id = record_at_counter(staff, "object")
    page = staff.go(f"/admin/pdp/permintaan/{request_id}")
    assert 'value="app:parkir"' in page.text
    assert carry_out(staff, request_id, target="app:parkir").status_code == 200
    assert not is_in_app(warga, hub, "parkir") and is_in_app(warga, hub, "cctv")  # that app only
    [entry] = [e for e in rows(hub.settings.database_url, AuditEntry, AuditEntry.action == "pdp.consent_withdraw")]
    assert entry.target == "app:parkir" and entry.detail["channel"] == "counter"
    refused_id = record_at_counter(staff, "restrict")
    page = staff.go(f"/admin/pdp/permintaan/{refused_id}")
    empty = staff.submit(
        f"/admin/aksi/pdp/permintaan/{refused_id}/tolak", {"reason": " ", "csrf_token": csrf_from(page.text)}
    )
    assert empty.status_code == 400
    refused = staff.submit(
        f"/admin/aksi/pdp/permintaan/{refused_id}/tolak",
        {"reason": "Identitas pemohon tidak dapat diverifikasi", "csrf_token": csrf_from(page.text)},
    )
    assert refused.status_code == 200
    privacy = warga.go("/account/privacy")
    assert 'data-kind="restrict" data-status="refused"' in privacy.text
    assert "Identitas pemohon tidak dapat diverifikasi" in privacy.text
    assert staff.go("/admin/pdp/permintaan/99999").status_code == 404
    assert staff.go("/admin/pdp/permintaan/abc").status_code == 404
    assert console(hub, DISHUB_OPERATOR).go(f"/admin/pdp/permintaan/{request_id}").status_code == 403


def test_a_citizen_withdraws_consent_for_one_session_app(hub: Hub, clock: FrozenClock) -> None:
    warga = Browser(hub)
    assert warga.login(warga.go(app_path(hub, "parkir")), WARGA).status_code == 200
    assert warga.go(app_path(hub, "cctv")).status_code == 200
    account = warga.go("/account")
    assert 'data-app="parkir"' in account.text and 'data-app="cctv"' in account.text
    # An app that never received this person's identity cannot be named (no probing, nothing ended).
    other = warga.submit("/account/apps/withdraw", {"app": "e-budgeting", "csrf_token": csrf_from(account.text)})
    assert other.status_code in (200, 303)
    done = warga.submit("/account/apps/withdraw", {"app": "parkir", "csrf_token": csrf_from(account.text)})
    assert done.status_code in (200, 303)
    assert not is_in_app(warga, hub, "parkir") and is_in_app(warga, hub, "cctv")
    url = hub.settings.database_url
    [request] = rows(url, DataRequest, DataRequest.kind == "withdraw")
    assert (request.target, request.status, request.channel) == ("app:parkir", "done", "online")
    assert warga.submit("/account/apps/withdraw", {"app": "parkir"}).status_code in (400, 403)  # CSRF


def test_the_admin_api_queue_register_and_breach(hub: Hub, clock: FrozenClock) -> None:
    seed_admins(hub, clock)
    warga = Browser(hub)
    start = clock.now() - 60
    assert warga.login(warga.go(app_path(hub, "parkir")), WARGA).status_code == 200
    eventually(lambda: rows(hub.settings.database_url, GatewayAccess))
    api = AdminClient(hub, admin_token(hub, KOMINFO))
    try:
        created = api.post("/pdp/requests", {"person": WARGA, "kind": "withdraw", "target": "app:parkir"})
        assert created.status_code == 201, created.text
        request = created.json()
        assert request["channel"] == "counter" and request["article"] == "Pasal 9 & 40"
        assert request["due_at"] == request["created_at"] + 3 * 86_400
        listed = api.get("/pdp/requests", status="open").json()
        assert [r["id"] for r in listed["items"]] == [request["id"]]
        done = api.post(f"/pdp/requests/{request['id']}/fulfil", {})
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "done" and not is_in_app(warga, hub, "parkir")
        assert api.post(f"/pdp/requests/{request['id']}/refuse", {"reason": "terlambat"}).status_code == 409
        assert api.get("/pdp/requests/12345").status_code == 404
        bad = api.post("/pdp/requests", {"person": WARGA, "kind": "hapus-semua"})
        assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
        assert api.post("/pdp/requests", {"person": "siapa@example.id", "kind": "export"}).status_code == 404
        saved = api.http.put(
            "/pdp/register/parkir",
            json={"purpose": "Retribusi parkir", "legal_basis": "public_task", "retention": "5 tahun"},
        )
        assert saved.status_code == 200 and saved.json()["flagged"] is False
        assert api.http.put("/pdp/register/tidak-ada", json={"purpose": "x"}).status_code == 404
        register = {e["app"]: e for e in api.get("/pdp/register").json()["items"]}
        assert register["parkir"]["legal_basis"] == "public_task" and register["cctv"]["flagged"]
        incident = api.get("/pdp/breaches/parkir", since=start).json()
        assert [p["email"] for p in incident["affected"]] == [WARGA] and "Pasal 46" in incident["draft"]["body"]
        assert "roles" in incident["affected"][0]["claims"]  # what parkir's assertions carried (names only)
        assert api.get("/pdp/breaches/parkir", since=start, until=start).json()["affected"] == []
        assert api.get("/pdp/breaches/tidak-ada").status_code == 404
        sent = api.post("/pdp/breaches/parkir", {"since": start})
        assert sent.status_code == 201 and sent.json()["notified"] == 1
    finally:
        api.close()
    operator = AdminClient(hub, admin_token(hub, DISHUB_OPERATOR))
    try:
        assert operator.get("/pdp/requests").status_code == 403
    finally:
        operator.close()
    unauthenticated = Browser(hub).http.get(f"{hub.url}/admin/api/pdp/requests")
    assert unauthenticated.status_code == 401
