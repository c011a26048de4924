"""Kominfo's data-protection console pages on a real hub (SQLite and PostgreSQL): the processing register,
the security log with filters and its JSON Lines export, counter requests in the queue, and a breach."""

from __future__ import annotations

import datetime as dt
import json
import re
import time

import httpx

from idp.clock import FrozenClock
from idp.storage.gateway_models import GatewayAccess
from idp.storage.models import AuditEntry, DataRequest
from tests.integration.test_data_rights import ASN, WARGA, app_path, clock, hub  # noqa: F401 (fixtures)
from tests.support.admin import DISHUB_OPERATOR, KOMINFO, AdminCity, run_seed
from tests.support.audit import gerbang
from tests.support.eventually import eventually
from tests.support.hub import Browser, Hub, csrf_from
from tests.support.outbox import body_of, messages_to
from tests.support.records import rows, update_row

WIB = dt.timezone(dt.timedelta(hours=7))


def seed_admins(hub: Hub, clock: FrozenClock) -> AdminCity:
    """The console's administrators, stamped with the real time: the frozen clock catches up with it."""
    admins = run_seed(hub.settings.database_url, hub.seeded.users)
    clock.value = max(clock.value, int(time.time()) + 1)
    return admins


def console(hub: Hub, email: str = KOMINFO) -> Browser:
    browser = Browser(hub)
    landed = browser.login(browser.go("/admin/"), email)
    assert landed.status_code == 200, landed.text
    return browser


def wib(at: int) -> str:
    return dt.datetime.fromtimestamp(at, WIB).strftime("%Y-%m-%dT%H:%M")


def test_the_register_flags_apps_without_a_purpose_and_exports(hub: Hub, clock: FrozenClock) -> None:
    admins = seed_admins(hub, clock)
    browser = console(hub)
    page = browser.go("/admin/pdp")
    assert re.search(r'data-app="parkir" data-flagged="yes"', page.text)
    saved = browser.submit(
        "/admin/aksi/pdp/register/parkir",
        {
            "purpose": "Pembayaran parkir tepi jalan",
            "legal_basis": "public_task",
            "retention": "5 tahun",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert saved.status_code == 200, saved.text
    page = browser.go("/admin/pdp")
    assert 'data-app="parkir" data-flagged="no"' in page.text and 'data-app="cctv" data-flagged="yes"' in page.text
    refused = browser.submit(
        "/admin/aksi/pdp/register/parkir",
        {"purpose": "x", "legal_basis": "karena-bisa", "csrf_token": csrf_from(page.text)},
    )
    assert refused.status_code == 400
    export = browser.go("/admin/pdp/register.jsonl")
    entries = {e["app"]: e for e in map(json.loads, export.text.splitlines())}
    assert entries["parkir"]["purpose"] == "Pembayaran parkir tepi jalan" and not entries["parkir"]["flagged"]
    assert {"sub", "name", "opd", "roles"} <= set(entries["parkir"]["claims"]) and entries["cctv"]["flagged"]
    [entry] = rows(hub.settings.database_url, AuditEntry, AuditEntry.action == "pdp.register_update")
    assert entry.actor == admins.users[KOMINFO]
    operator = console(hub, DISHUB_OPERATOR)
    assert operator.go("/admin/pdp").status_code == 403  # Kominfo's duty, Kominfo's page


def test_the_security_log_filters_and_exports_json_lines(hub: Hub, clock: FrozenClock) -> None:
    seed_admins(hub, clock)
    warga = Browser(hub)
    page = warga.go("/auth/login")
    warga.submit("/auth/login", {"login": WARGA, "password": "bukan-ini-sandinya", "csrf_token": csrf_from(page.text)})
    token = httpx.post(f"{hub.url}/auth/token", auth=("tidak-ada", "salah"), data={"grant_type": "client_credentials"})
    assert token.status_code == 401
    browser = console(hub)
    failed = browser.go(f"/admin/pdp/keamanan?kind=login.failed&user={WARGA}")
    assert failed.text.count('class="security-event"') == 1 and "wrong_password" in failed.text
    clients = browser.go("/admin/pdp/keamanan?kind=client.auth_failed")
    assert 'data-kind="client.auth_failed"' in clients.text and 'data-kind="login.failed"' not in clients.text
    export = browser.go(f"/admin/pdp/keamanan.jsonl?kind=login.failed&user={WARGA}")
    assert export.headers["content-type"].startswith("application/jsonl")
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert [(e["kind"], e["reason"], e["user_id"]) for e in lines] == [
        ("login.failed", "wrong_password", hub.seeded.users[WARGA])
    ]
    cli = gerbang(
        {
            "GERBANG_DATABASE_URL": hub.settings.database_url,
            "GERBANG_SECRET_KEY": "t" * 40,
            "GERBANG_DATA_DIR": str(hub.settings.data_dir),
            "GERBANG_ISSUER": hub.url,
        },
        "pdp",
        "events",
        "--kind",
        "client.auth_failed",
    )
    assert cli.exit_code == 0, cli.output
    # Only the events (a log line the CLI writes under load is not one of them).
    events = [event for event in map(json.loads, cli.stdout.splitlines()) if event.get("kind")]
    assert events and {(e["kind"], e["client_id"], e["reason"]) for e in events} == {
        ("client.auth_failed", "tidak-ada", "invalid_client")
    }, cli.stdout
    assert browser.go("/admin/pdp/keamanan?since=kemarin").status_code == 400
    assert browser.go("/admin/pdp/keamanan?kind=tidak.ada").status_code == 400


def test_a_counter_request_is_queued_with_its_deadline_and_the_official_as_actor(hub: Hub, clock: FrozenClock) -> None:
    admins = seed_admins(hub, clock)
    browser = console(hub)
    page = browser.go("/admin/pdp/permintaan")
    done = browser.submit(
        "/admin/aksi/pdp/permintaan",
        {"person": WARGA, "kind": "export", "note": "datang ke loket kecamatan", "csrf_token": csrf_from(page.text)},
    )
    assert done.status_code == 200, done.text
    [request] = rows(hub.settings.database_url, DataRequest)
    assert (request.actor, request.channel, request.status) == (admins.users[KOMINFO], "counter", "open")
    assert request.due_at == request.created_at + 3 * 86_400
    queue = browser.go("/admin/pdp/permintaan?status=open")
    assert 'data-kind="export" data-status="open"' in queue.text and "LEWAT TENGGAT" not in queue.text
    # Three days on (the request's times moved back: the console's sign-in checks tokens against the real time).
    update_row(
        hub.settings.database_url,
        DataRequest,
        request.id,
        created_at=request.created_at - 3 * 86_400 - 1,
        due_at=request.due_at - 3 * 86_400 - 1,
    )
    assert "LEWAT TENGGAT" in browser.go("/admin/pdp/permintaan").text
    unknown = browser.submit(
        "/admin/aksi/pdp/permintaan",
        {"person": "siapa@example.id", "kind": "export", "csrf_token": csrf_from(queue.text)},
    )
    assert unknown.status_code == 404
    [entry] = rows(hub.settings.database_url, AuditEntry, AuditEntry.action == "pdp.request")
    assert entry.actor == admins.users[KOMINFO] and WARGA not in json.dumps(entry.detail)


def test_a_breach_from_the_console_lists_drafts_and_sends(hub: Hub, clock: FrozenClock) -> None:
    admins = seed_admins(hub, clock)
    start = clock.now() - 60
    warga = Browser(hub)
    assert warga.login(warga.go(app_path(hub, "parkir")), WARGA).status_code == 200
    eventually(lambda: rows(hub.settings.database_url, GatewayAccess))
    browser = console(hub)
    page = browser.go(f"/admin/pdp/insiden?app=parkir&since={wib(start)}")
    assert page.status_code == 200, page.text
    assert '<span id="affected-count">1</span>' in page.text and "Pasal 46" in page.text
    assert re.search(r'<li class="affected">[^<]*roles', page.text)  # the claims parkir's assertions carried
    sent = browser.submit(
        "/admin/aksi/pdp/insiden",
        {"app": "parkir", "since": wib(start), "until": "", "csrf_token": csrf_from(page.text)},
    )
    assert sent.status_code == 200 and "Pemberitahuan terkirim: 1" in sent.text
    outbox = hub.settings.effective_mail_outbox
    assert outbox is not None
    [message] = messages_to(outbox, WARGA)
    assert "Layanan Parkir" in body_of(message) and messages_to(outbox, ASN) == []
    [entry] = rows(hub.settings.database_url, AuditEntry, AuditEntry.action == "pdp.breach")
    assert entry.actor == admins.users[KOMINFO] and entry.detail["notified"] == 1
    assert browser.go("/admin/pdp/insiden?app=tidak-ada&since=2026-01-01T00:00").status_code == 404
