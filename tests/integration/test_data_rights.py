"""UU PDP data rights end to end on a real hub (gateway + provider), SQLite and PostgreSQL:
export after real sign-ins and gateway visits, consent withdrawal, account deletion with a frozen clock,
the privacy notice, breach notices and the retention purge."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from gateway.app import create_app as create_hub
from idp.clock import FrozenClock
from idp.pdp.jobs import DAY, PdpJobs, Retention
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.gateway_models import GatewayAccess
from idp.storage.models import AuditEntry, Client, DataRequest, SecurityEvent, User
from tests.integration.test_access_history import register
from tests.support.account_flows import code_flow_tokens, introspect, is_signed_in
from tests.support.audit import gerbang
from tests.support.clock import app_with_clock
from tests.support.eventually import eventually
from tests.support.hub import PASSWORD, Browser, Hub, authorize_url, csrf_from, pkce_pair, run_hub
from tests.support.outbox import body_of, messages_to
from tests.support.records import rows, update_row, user_by_email
from tests.support.relying_party import RelyingParty
from tests.support.server import run_server
from tests.support.totp_steps import sign_in_directly
from tests.support.upstream import Upstream

WARGA = "warga@example.id"
ASN = "asn@dishub.example.id"
NIK = "1671015203950002"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def app_path(hub: Hub, slug: str, path: str = "/echo") -> str:
    """Where the browser opens an app through the gateway: the app's own origin."""
    return f"{hub.app_url(slug)}{path}"


@pytest.fixture
def hub(database_url: str, tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    """The whole hub on a frozen clock, with two session apps of Dinas Perhubungan, parkir and cctv."""
    monkeypatch.setenv("GERBANG_BACKCHANNEL_LOGOUT_BACKOFF", "0.05")
    with run_server(Upstream("parkir")) as parkir, run_server(Upstream("cctv")) as cctv:
        with run_hub(
            database_url, tmp_path, app_factory=app_with_clock(clock, create_hub), access_history_flush_seconds=0.2
        ) as running:
            asyncio.run(register(database_url, running.url, {"parkir": parkir, "cctv": cctv}))
            assert eventually(lambda: Browser(running).go(app_path(running, "parkir")).status_code != 404)
            yield running


def post(browser: Browser, path: str, data: dict[str, str], page: str = "/account"):  # type: ignore[no-untyped-def]
    return browser.submit(path, {**data, "csrf_token": csrf_from(browser.go(page).text)})


def run_jobs(hub: Hub, clock: FrozenClock, **retention: int) -> dict[str, int]:
    async def run() -> dict[str, int]:
        engine = build_engine(hub.settings.database_url)
        try:
            jobs = PdpJobs(
                build_sessionmaker(engine),
                clock,
                Retention(retention.get("access", 365), retention.get("events", 365), retention.get("inactive", 0)),
                every=60,
            )
            return (await jobs.run_once()).__dict__
        finally:
            await engine.dispose()

    return asyncio.run(run())


def chain_report(hub: Hub) -> dict[str, object]:
    result = gerbang(
        {
            "GERBANG_DATABASE_URL": hub.settings.database_url,
            "GERBANG_SECRET_KEY": "t" * 40,
            "GERBANG_DATA_DIR": str(hub.settings.data_dir),
            "GERBANG_ISSUER": hub.url,
        },
        "audit",
        "verify",
        "--json",
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def cli(hub: Hub, *args: str):  # type: ignore[no-untyped-def]
    return gerbang(
        {
            "GERBANG_DATABASE_URL": hub.settings.database_url,
            "GERBANG_SECRET_KEY": "t" * 40,
            "GERBANG_DATA_DIR": str(hub.settings.data_dir),
            "GERBANG_ISSUER": hub.url,
        },
        *args,
    )


def test_the_export_holds_sign_ins_gateway_visits_consents_and_security_events(hub: Hub) -> None:
    user_id = hub.seeded.users[WARGA]
    update_row(hub.settings.database_url, User, user_id, nik=NIK)
    browser = Browser(hub)
    wrong = browser.go("/auth/login")
    browser.submit("/auth/login", {"login": WARGA, "password": "salah-sekali-123", "csrf_token": csrf_from(wrong.text)})
    landed = browser.login(browser.go(app_path(hub, "parkir")), WARGA)
    assert landed.status_code == 200, landed.text
    code_flow_tokens(hub, browser, WARGA)
    eventually(lambda: rows(hub.settings.database_url, GatewayAccess, GatewayAccess.user_id == user_id))

    download = browser.go("/account/data.json")
    assert download.status_code == 200 and download.headers["content-type"].startswith("application/json")
    assert download.headers["content-disposition"].startswith("attachment;")
    data = download.json()
    assert data["profile"]["email"] == WARGA and data["profile"]["nik"] == NIK  # whole in the file
    assert [c["app"] for c in data["consents"]] == ["Parkir Dishub"]
    [agreed] = data["app_agreements"]  # the session app she agreed to share with, and what
    assert agreed["app"] == "parkir" and agreed["claims"] == ["name", "opd", "roles", "acr"] and agreed["agreed_at"]
    vias = {(entry["via"], entry["app"]) for entry in data["access_history"]}
    assert ("gateway", "Layanan Parkir") in vias and ("token", "Parkir Dishub") in vias
    kinds = [(e["kind"], e["reason"]) for e in data["security_events"]]
    assert ("login.failed", "wrong_password") in kinds and ("login.succeeded", None) in kinds
    assert data["sessions"] and data["credentials"]["password"]["set"] is True
    assert "argon2" not in download.text and "password_hash" not in download.text  # never a secret
    [request] = rows(hub.settings.database_url, DataRequest, DataRequest.user_id == user_id)
    assert (request.kind, request.status, request.channel) == ("export", "done", "online")  # in Kominfo's queue

    page = browser.go("/account/data").text
    assert NIK not in page and "167101••••••0002" in page  # masked on screen
    privacy = browser.go("/account/privacy").text
    assert 'data-kind="login.failed"' in privacy and "wrong_password" in privacy


def test_withdrawing_consent_revokes_tokens_tells_the_app_and_asks_again(hub: Hub) -> None:
    party = RelyingParty()
    with run_server(party.app()) as url:
        client_id, _ = hub.client("Parkir Dishub")
        client_pk = rows(hub.settings.database_url, Client, Client.client_id == client_id)[0].id
        update_row(hub.settings.database_url, Client, client_pk, backchannel_logout_uri=f"{url}/backchannel-logout")
        browser = Browser(hub)
        tokens = code_flow_tokens(hub, browser, WARGA)
        assert introspect(hub, tokens["access_token"])["active"] is True
        done = post(browser, "/account/consents/revoke", {"client_id": client_id})
        assert 'id="message"' in done.text

        assert introspect(hub, tokens["access_token"])["active"] is False
        assert introspect(hub, tokens["refresh_token"])["active"] is False
        [token] = party.wait_for(1)
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["sub"] == hub.seeded.users[WARGA] and claims["aud"] == client_id
        assert "sid" in claims  # the browser session that signed in to the app
        _verifier, challenge = pkce_pair()
        assert "/auth/consent" in str(browser.go(authorize_url(client_id, challenge)).url)  # asked again
        assert is_signed_in(browser)

    [entry] = rows(hub.settings.database_url, AuditEntry, AuditEntry.action == "pdp.consent_withdraw")
    assert entry.actor == f"user:{hub.seeded.users[WARGA]}" and entry.detail["token_families"] == 1
    history = browser.go("/account").text.split('<section id="history">', 1)[1]
    assert "(dicabut)" in history.split("</section>", 1)[0]
    revoked = rows(hub.settings.database_url, SecurityEvent, SecurityEvent.kind == "token.revoked")
    assert [e.reason for e in revoked] == ["consent_withdrawn"]


def test_deleting_disables_at_once_and_erases_after_the_grace_period(hub: Hub, clock: FrozenClock) -> None:
    url = hub.settings.database_url
    user_id = hub.seeded.users[WARGA]
    update_row(url, User, user_id, nik=NIK)
    party = RelyingParty()
    with run_server(party.app()) as rp_url:
        client_id, _ = hub.client("Parkir Dishub")
        client_pk = rows(url, Client, Client.client_id == client_id)[0].id
        update_row(url, Client, client_pk, backchannel_logout_uri=f"{rp_url}/backchannel-logout")
        browser = Browser(hub)
        assert browser.login(browser.go(app_path(hub, "parkir")), WARGA).status_code == 200
        tokens = code_flow_tokens(hub, browser, WARGA)
        eventually(lambda: rows(url, GatewayAccess, GatewayAccess.user_id == user_id))

        refused = post(browser, "/account/delete", {"password": "bukan-kata-sandinya"}, page="/account/privacy")
        assert refused.status_code == 400 and user_by_email(url, WARGA).disabled is False
        done = post(browser, "/account/delete", {"password": PASSWORD}, page="/account/privacy")
        assert done.status_code == 200 and "Akun akan dihapus" in done.text
        told = party.wait_for(2)  # the session it signed in with, and the consent it holds
        assert told and {jwt.decode(t, options={"verify_signature": False})["sub"] for t in told} == {user_id}
    user = user_by_email(url, WARGA)
    assert user.disabled and user.erase_after == clock.now() + 30 * DAY
    assert introspect(hub, tokens["access_token"])["active"] is False
    assert not is_signed_in(browser)
    assert "/auth/login" in str(browser.go(app_path(hub, "parkir")).url)  # the gateway session ended too

    clock.advance(29 * DAY)
    assert run_jobs(hub, clock)["erased_accounts"] == 0  # still in the grace period
    clock.advance(DAY + 1)
    assert run_jobs(hub, clock)["erased_accounts"] == 1
    assert user_by_email(url, WARGA) is None
    report = chain_report(hub)
    assert report["intact"] is True
    exported = cli(hub, "audit", "export")
    assert exported.exit_code == 0 and f"user:{user_id}" in exported.stdout  # a pseudonym remains
    for personal in (WARGA, "Siti Warga", NIK):
        assert personal not in exported.stdout
    events = rows(url, SecurityEvent, SecurityEvent.user_id == user_id)
    assert events and all(e.ip is None for e in events)
    assert [r.status for r in rows(url, DataRequest, DataRequest.kind == "erase")] == ["done"]
    listing = cli(hub, "pdp", "breach", "--app", "parkir", "--since", "0", "--until", str(clock.now()), "--json")
    assert listing.exit_code == 0, listing.output
    assert json.loads(listing.stdout)["affected"] == []  # erased: absent from the breach listing


def test_signing_in_during_the_grace_period_cancels_the_deletion(hub: Hub, clock: FrozenClock) -> None:
    url = hub.settings.database_url
    browser = Browser(hub)
    sign_in_directly(browser, WARGA)
    post(browser, "/account/delete", {"password": PASSWORD}, page="/account/privacy")
    assert user_by_email(url, WARGA).disabled
    clock.advance(10 * DAY)
    again = Browser(hub)
    sign_in_directly(again, WARGA)
    assert is_signed_in(again)
    user = user_by_email(url, WARGA)
    assert not user.disabled and user.erase_after is None
    clock.advance(25 * DAY)
    assert run_jobs(hub, clock)["erased_accounts"] == 0 and user_by_email(url, WARGA) is not None
    reasons = [e.reason for e in rows(url, SecurityEvent, SecurityEvent.kind == "account.deletion")]
    assert sorted(reasons) == ["cancelled", "requested"]


def test_a_changed_privacy_notice_is_asked_again_at_sign_in(hub: Hub) -> None:
    url = hub.settings.database_url
    browser = Browser(hub)
    page = browser.go("/auth/register")
    assert 'data-version="2026-12"' in page.text
    browser.submit(
        "/auth/register",
        {
            "name": "Rina Warga",
            "email": "rina@example.id",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "csrf_token": csrf_from(page.text),
        },
    )
    rina = user_by_email(url, "rina@example.id")
    assert rina.privacy_version == "2026-12" and rina.privacy_accepted_at is not None

    user_id = hub.seeded.users[WARGA]
    update_row(url, User, user_id, privacy_version="2025-01", privacy_accepted_at=1)
    login = browser.go("/auth/login")
    shown = browser.submit("/auth/login", {"login": WARGA, "password": PASSWORD, "csrf_token": csrf_from(login.text)})
    assert "/auth/privacy" in str(shown.url) and 'id="privacy-accept"' in shown.text
    accepted = browser.submit("/auth/privacy", {"next": "/account", "csrf_token": csrf_from(shown.text)})
    assert str(accepted.url).endswith("/account")
    assert user_by_email(url, WARGA).privacy_version == "2026-12"
    login = Browser(hub)
    page = login.go("/auth/login")
    again = login.submit("/auth/login", {"login": WARGA, "password": PASSWORD, "csrf_token": csrf_from(page.text)})
    assert str(again.url).endswith("/account")  # accepted once, not asked again


def test_breach_lists_who_the_app_received_and_mails_notices(hub: Hub, clock: FrozenClock) -> None:
    start = clock.now()
    browser = Browser(hub)
    assert browser.login(browser.go(app_path(hub, "parkir")), WARGA).status_code == 200
    other = Browser(hub)
    assert other.login(other.go(app_path(hub, "cctv")), ASN).status_code == 200  # another app: not affected
    eventually(lambda: len(rows(hub.settings.database_url, GatewayAccess)) >= 2)
    until = str(clock.now() + 1)

    listing = cli(hub, "pdp", "breach", "--app", "parkir", "--since", str(start), "--until", until, "--json")
    assert listing.exit_code == 0, listing.output
    found = json.loads(listing.stdout)
    assert [p["email"] for p in found["affected"]] == [WARGA]
    [person] = found["affected"]
    assert "roles" in person["claims"] and "nik" not in person["claims"]  # what parkir's assertions carried
    assert "akun Gerbang, " in found["draft"]["body"] and "peran" in found["draft"]["body"]  # named in the notice
    assert "Pasal 46" in found["draft"]["body"] and "Layanan Parkir" in found["draft"]["subject"]
    outbox = hub.settings.effective_mail_outbox
    assert outbox is not None and messages_to(outbox, WARGA) == []  # nothing sent without --send

    sent = cli(hub, "pdp", "breach", "--app", "parkir", "--since", str(start), "--until", until, "--send", "--json")
    assert json.loads(sent.stdout)["sent"]["notified"] == 1
    [message] = messages_to(outbox, WARGA)
    assert "Pemberitahuan insiden data pribadi" in message["Subject"] and "Ganti kata sandi" in body_of(message)
    assert messages_to(outbox, ASN) == []
    [entry] = rows(hub.settings.database_url, AuditEntry, AuditEntry.action == "pdp.breach")
    assert entry.detail["notified"] == 1 and entry.target == "app:parkir" and WARGA not in json.dumps(entry.detail)


def test_retention_purges_old_rows_one_instance_at_a_time_and_records_counts(hub: Hub, clock: FrozenClock) -> None:
    url = hub.settings.database_url

    async def setup_and_race() -> tuple[bool, bool]:
        engine = build_engine(url)
        try:
            maker = build_sessionmaker(engine)
            async with maker() as session, session.begin():
                now = clock.now()
                session.add_all(
                    [
                        SecurityEvent(at=now - 400 * DAY, kind="login.failed", detail={}),
                        SecurityEvent(at=now - 10 * DAY, kind="login.failed", detail={}),
                        GatewayAccess(user_id="u-old", app="parkir", opd="dishub", at=now - 400 * DAY),
                        GatewayAccess(user_id="u-new", app="parkir", opd="dishub", at=now - DAY),
                    ]
                )
            first = PdpJobs(maker, clock, Retention(365, 365, 0), every=60, holder="instance-a")
            second = PdpJobs(maker, clock, Retention(365, 365, 0), every=60, holder="instance-b")
            assert await first.lease.take(clock.now())
            blocked = (await second.run_once()).ran
            await first.lease.release()
            return blocked, (await second.run_once()).ran
        finally:
            await engine.dispose()

    blocked, ran = asyncio.run(setup_and_race())
    assert blocked is False and ran is True  # the second instance waited its turn
    assert [r.user_id for r in rows(url, GatewayAccess)] == ["u-new"]
    assert len(rows(url, SecurityEvent, SecurityEvent.kind == "login.failed")) == 1
    [entry] = rows(url, AuditEntry, AuditEntry.action == "pdp.retention_purge")
    assert entry.detail == {"erased_accounts": 0, "inactive_accounts": 0, "gateway_accesses": 1, "security_events": 1}
    assert run_jobs(hub, clock)["security_events"] == 0  # nothing left: nothing recorded
    assert len(rows(url, AuditEntry, AuditEntry.action == "pdp.retention_purge")) == 1
