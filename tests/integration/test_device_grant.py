"""RFC 8628 device authorization grant: a kiosk without a keyboard, a person with a phone, the polling rules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from idp.clients import DEVICE_GRANT
from idp.clock import FrozenClock
from tests.support.clock import app_with_clock
from tests.support.flows import WARGA, register_client, signed_in_browser
from tests.support.hub import Browser, Hub, csrf_from, run_hub


@pytest.fixture(scope="module")
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture(scope="module")
def hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory, clock: FrozenClock) -> Iterator[Hub]:
    with run_hub(module_database_url, tmp_path_factory.mktemp("hub"), app_factory=app_with_clock(clock)) as running:
        yield running


@pytest.fixture(scope="module")
def kiosk(hub: Hub) -> str:
    client_id, secret = register_client(
        hub,
        name="Kios Mal Pelayanan Publik",
        public=True,
        grant_types=(DEVICE_GRANT, "refresh_token"),
        scope="openid profile",
    )
    assert secret is None
    return client_id


def start(hub: Hub, client_id: str, **extra: str) -> dict[str, Any]:
    response = httpx.post(
        f"{hub.url}/auth/device_authorization", data={"client_id": client_id, "scope": "openid profile", **extra}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def poll(hub: Hub, client_id: str, device_code: str) -> httpx.Response:
    return httpx.post(
        f"{hub.url}/auth/token", data={"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": client_id}
    )


def enter_code(browser: Browser, code: str, decision: str | None = None) -> httpx.Response:
    page = browser.go(f"/auth/device?user_code={code}")
    data = {"csrf_token": csrf_from(page.text), "user_code": code}
    if decision:
        data["decision"] = decision
    return browser.submit("/auth/device", data)


def approve(browser: Browser, code: str, decision: str = "allow") -> httpx.Response:
    confirm = enter_code(browser, code)
    if confirm.url.path == "/auth/login":
        confirm = enter_code(browser, code) if browser.login(confirm, WARGA).status_code == 200 else confirm
    assert confirm.status_code == 200 and "Izinkan" in confirm.text, confirm.text
    return browser.submit(
        "/auth/device", {"csrf_token": csrf_from(confirm.text), "user_code": code, "decision": decision}
    )


def test_kiosk_gets_tokens_after_the_person_approves_on_a_phone(hub: Hub, kiosk: str, clock: FrozenClock) -> None:
    started = start(hub, kiosk)
    assert started["verification_uri"] == f"{hub.url}/auth/device" and started["interval"] == 5
    assert len(started["user_code"]) == 9 and started["user_code"][4] == "-"
    pending = poll(hub, kiosk, started["device_code"])
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    done = approve(signed_in_browser(hub, WARGA), started["user_code"].lower().replace("-", " "))
    assert done.status_code == 200 and "Perangkat sudah terhubung" in done.text
    clock.value += 5
    tokens = poll(hub, kiosk, started["device_code"])
    assert tokens.status_code == 200, tokens.text
    assert {"access_token", "id_token", "refresh_token"} <= set(tokens.json())
    again = poll(hub, kiosk, started["device_code"])
    clock.value += 5
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_polling_too_fast_slows_the_device_down(hub: Hub, kiosk: str, clock: FrozenClock) -> None:
    started = start(hub, kiosk)
    assert poll(hub, kiosk, started["device_code"]).json()["error"] == "authorization_pending"
    assert poll(hub, kiosk, started["device_code"]).json()["error"] == "slow_down"
    clock.value += 6  # the old interval (5 s) is not enough any more: it grew to 10 (and now to 15)
    assert poll(hub, kiosk, started["device_code"]).json()["error"] == "slow_down"
    clock.value += 15
    assert poll(hub, kiosk, started["device_code"]).json()["error"] == "authorization_pending"


def test_denied_and_expired_codes(hub: Hub, kiosk: str, clock: FrozenClock) -> None:
    denied = start(hub, kiosk)
    page = approve(signed_in_browser(hub, WARGA), denied["user_code"], decision="deny")
    assert "Permintaan ditolak" in page.text
    assert poll(hub, kiosk, denied["device_code"]).json()["error"] == "access_denied"
    expired = start(hub, kiosk)
    clock.value += 601
    assert poll(hub, kiosk, expired["device_code"]).json()["error"] == "expired_token"
    late = enter_code(signed_in_browser(hub, WARGA), expired["user_code"])
    assert late.status_code == 400 and "Kode tidak dikenal" in late.text


def test_device_code_of_another_client_is_refused(hub: Hub, kiosk: str) -> None:
    started = start(hub, kiosk)
    other = register_client(hub, name="Layar CCTV", public=True, grant_types=(DEVICE_GRANT,), scope="openid")[0]
    assert poll(hub, other, started["device_code"]).json()["error"] == "invalid_grant"
    assert poll(hub, kiosk, "made-up").json()["error"] == "invalid_grant"


def test_client_without_the_grant_or_scope_is_refused(hub: Hub, kiosk: str) -> None:
    plain, _ = hub.client("Aplikasi Publik")
    polled = poll(hub, plain, "whatever")  # the grant exists, but this client may not use it
    assert polled.status_code == 400 and polled.json()["error"] == "unauthorized_client"
    refused = httpx.post(f"{hub.url}/auth/device_authorization", data={"client_id": plain, "scope": "openid"})
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
    wide = httpx.post(f"{hub.url}/auth/device_authorization", data={"client_id": kiosk, "scope": "openid email"})
    assert wide.status_code == 400 and wide.json()["error"] == "invalid_scope"
    for resource in ("http://[::1", "relative/path", "https://bpkad.apps.palembang.go.id/"):
        target = httpx.post(f"{hub.url}/auth/device_authorization", data={"client_id": kiosk, "resource": resource})
        assert target.status_code == 400 and target.json()["error"] == "invalid_target", resource


def test_a_person_not_signed_in_signs_in_and_comes_back_to_the_code(hub: Hub, kiosk: str) -> None:
    started = start(hub, kiosk)
    browser = Browser(hub)
    try:
        login = enter_code(browser, started["user_code"])
        assert login.url.path == "/auth/login", login.url
        confirm = browser.login(login, WARGA)
        assert confirm.url.path == "/auth/device" and confirm.status_code == 200
        assert started["user_code"] in confirm.text  # the code entered before signing in is kept
    finally:
        browser.close()


def test_guessing_user_codes_is_rate_limited(hub: Hub, kiosk: str) -> None:
    browser = Browser(hub)
    try:
        statuses = [enter_code(browser, "BBBB-BBBB").status_code for _ in range(12)]
    finally:
        browser.close()
    assert statuses[0] == 400 and statuses[-1] == 429
    assert "device_authorization_endpoint" in httpx.get(f"{hub.url}/.well-known/openid-configuration").json()
