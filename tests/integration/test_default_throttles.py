"""The shipped policy set's brute-force limits, through the real provider: they slow guessing down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from policies.loader import DEFAULT_POLICY_DIR
from tests.support.hub import Browser, Hub, authorize_url, pkce_pair, run_hub


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with run_hub(database_url, tmp_path, policy_dir=DEFAULT_POLICY_DIR) as running:
        yield running


def test_password_guessing_on_one_account_is_throttled_and_says_so(hub: Hub) -> None:
    browser = Browser(hub)
    client_id, _ = hub.client("Portal Kominfo")
    page = browser.go(authorize_url(client_id, pkce_pair()[1]))
    answers = [browser.login(page, "warga@example.id", password=f"tebakan-salah-{n}") for n in range(6)]
    assert [a.status_code for a in answers[:5]] == [200] * 5  # the shipped burst: 5 attempts at once
    assert answers[5].status_code == 429 and "Terlalu banyak percobaan" in answers[5].text
    other = browser.login(page, "asn@dishub.example.id")  # another account from the same address still works
    assert other.status_code == 303
    browser.close()


def test_guessing_a_client_secret_is_throttled_per_client(hub: Hub) -> None:
    client_id, secret = hub.client("Bapenda Integrasi")
    form = {"grant_type": "client_credentials", "scope": "anggaran:read"}
    statuses = [
        httpx.post(f"{hub.url}/auth/token", auth=(client_id, f"salah-{n}"), data=form).status_code for n in range(11)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    refused = httpx.post(f"{hub.url}/auth/token", auth=(client_id, secret), data=form)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1  # even the right secret waits
