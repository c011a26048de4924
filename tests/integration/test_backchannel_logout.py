"""OIDC Back-Channel Logout 1.0 to a tiny real relying party on loopback; both storage backends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from idp.audit_verify import verify_database
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import AuditEntry, Client, LogoutDelivery
from tests.support.account_flows import code_flow_tokens, is_signed_in
from tests.support.hub import Browser, Hub, csrf_from, run_hub
from tests.support.records import rows, update_row
from tests.support.relying_party import RelyingParty
from tests.support.server import run_server

EVENT = "http://schemas.openid.net/event/backchannel-logout"
WARGA = "warga@example.id"


@pytest.fixture
def hub(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    monkeypatch.setenv("GERBANG_BACKCHANNEL_LOGOUT_BACKOFF", "0.05")
    with run_hub(database_url, tmp_path) as running:
        yield running


@pytest.fixture
def relying_party(hub: Hub) -> Iterator[tuple[RelyingParty, str]]:
    party = RelyingParty()
    with run_server(party.app()) as url:
        client_id, _ = hub.client("Parkir Dishub")
        client_pk = rows(hub.settings.database_url, Client, Client.client_id == client_id)[0].id
        update_row(hub.settings.database_url, Client, client_pk, backchannel_logout_uri=f"{url}/backchannel-logout")
        yield party, client_id


def deliveries(hub: Hub, expected: int) -> list[LogoutDelivery]:
    deadline = time.monotonic() + 10
    while True:
        found = rows(hub.settings.database_url, LogoutDelivery)
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def logout_audit(hub: Hub) -> list[AuditEntry]:
    return rows(hub.settings.database_url, AuditEntry, AuditEntry.action == "logout.backchannel")


def chain_is_intact(hub: Hub) -> bool:
    async def verify() -> bool:
        engine = build_engine(hub.settings.database_url)
        try:
            async with build_sessionmaker(engine)() as session:
                return (await verify_database(session)).intact
        finally:
            await engine.dispose()

    return asyncio.run(verify())


def sign_in_to_both_clients(hub: Hub) -> Browser:
    browser = Browser(hub)
    code_flow_tokens(hub, browser, WARGA)  # Parkir Dishub: has a back-channel logout URI
    code_flow_tokens(hub, browser, WARGA, client="Portal Kominfo")  # none registered
    return browser


def logout(browser: Browser) -> None:
    page = browser.go("/account")
    done = browser.submit("/auth/logout", {"csrf_token": csrf_from(page.text)})
    assert done.status_code == 200 and not is_signed_in(browser)


def test_logout_sends_a_signed_logout_token(hub: Hub, relying_party: tuple[RelyingParty, str]) -> None:
    party, client_id = relying_party
    browser = sign_in_to_both_clients(hub)
    logout(browser)
    [delivery] = deliveries(hub, 1)
    assert (delivery.status, delivery.attempts, delivery.client_id) == ("delivered", 1, client_id)
    [token] = party.tokens
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "logout+jwt"
    jwks = jwt.PyJWKSet.from_dict(httpx.get(f"{hub.url}/auth/jwks").json())
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    claims = jwt.decode(token, key.key, algorithms=["ES256", "RS256"], audience=client_id, issuer=hub.url)
    assert claims["events"] == {EVENT: {}} and "nonce" not in claims
    assert claims["sub"] and claims["sid"] == delivery.sid and claims["jti"] == delivery.jti
    assert 0 < claims["exp"] - claims["iat"] <= 120
    [entry] = logout_audit(hub)  # written with the delivery row, in one transaction
    assert entry.target == f"client:{client_id}" and entry.actor == "gerbang"
    assert entry.detail == {
        "client_id": client_id,
        "outcome": "delivered",
        "attempts": 1,
        "error": None,
        "sid": delivery.sid,
        "sub": delivery.user_id,
        "jti": delivery.jti,
    }
    assert chain_is_intact(hub)


def test_failed_deliveries_are_retried(hub: Hub, relying_party: tuple[RelyingParty, str]) -> None:
    party, _client_id = relying_party
    party.failures = 2
    browser = sign_in_to_both_clients(hub)
    logout(browser)
    [delivery] = deliveries(hub, 1)
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert len(party.tokens) == 3 and len(set(party.tokens)) == 1  # the same token, retried
    [entry] = logout_audit(hub)  # one entry for the delivery, not one per attempt
    assert (entry.detail["outcome"], entry.detail["attempts"]) == ("delivered", 3)


def test_a_delivery_that_fails_every_retry_is_audited_as_failed(
    hub: Hub, relying_party: tuple[RelyingParty, str]
) -> None:
    party, client_id = relying_party
    party.failures = 100  # 503 every time
    logout(sign_in_to_both_clients(hub))
    [delivery] = deliveries(hub, 1)
    attempts = hub.settings.backchannel_logout_attempts
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", attempts, "HTTP 503")
    assert len(party.tokens) == attempts
    [entry] = logout_audit(hub)
    assert entry.detail["client_id"] == client_id
    assert (entry.detail["outcome"], entry.detail["attempts"], entry.detail["error"]) == (
        "failed",
        attempts,
        "HTTP 503",
    )
    assert chain_is_intact(hub)


def test_a_refusing_client_is_not_retried(hub: Hub, relying_party: tuple[RelyingParty, str]) -> None:
    party, _client_id = relying_party
    party.failures, party.fail_status = 10, 400
    logout(sign_in_to_both_clients(hub))
    [delivery] = deliveries(hub, 1)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("refused", 1, "HTTP 400")


def test_sign_out_everywhere_notifies_each_session(hub: Hub, relying_party: tuple[RelyingParty, str]) -> None:
    party, _client_id = relying_party
    phone, laptop = sign_in_to_both_clients(hub), sign_in_to_both_clients(hub)
    page = laptop.go("/account")
    laptop.submit("/account/sessions/end-all", {"csrf_token": csrf_from(page.text)})
    found = deliveries(hub, 2)
    assert len(found) == 2 and {d.status for d in found} == {"delivered"}
    assert len({d.sid for d in found}) == 2 and len(party.tokens) == 2
    assert not is_signed_in(phone)


def test_a_logout_uri_at_a_refused_address_is_never_called(database_url: str, tmp_path: Path) -> None:
    party = RelyingParty()
    with run_server(party.app()) as url, run_hub(database_url, tmp_path, upstream_allow=()) as strict_hub:
        client_id, _ = strict_hub.client("Parkir Dishub")
        client_pk = rows(strict_hub.settings.database_url, Client, Client.client_id == client_id)[0].id
        # A loopback URI: as a client registering http://169.254.169.254/... would reach the metadata service.
        update_row(
            strict_hub.settings.database_url,
            Client,
            client_pk,
            backchannel_logout_uri=f"{url.replace('127.0.0.1', 'localhost')}/backchannel-logout",
        )
        logout(sign_in_to_both_clients(strict_hub))
        [delivery] = deliveries(strict_hub, 1)
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "GERBANG_UPSTREAM_ALLOW" in (delivery.last_error or "")
    assert party.tokens == []
