"""Redis down must not lock every citizen out (the shipped limits, through the real provider).

With Redis killed, sign-in and the token endpoint go on under each process's own limits, which still slow a
password guesser down; a login limit that Kominfo set to fail closed refuses with "temporarily unavailable"
(503), never "too many attempts".
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from policies.loader import DEFAULT_POLICY_DIR
from tests.support.hub import Browser, Hub, authorize_url, pkce_pair, run_hub
from tests.support.redis_process import RedisProcess, own_redis
from tests.support.signin_steps import sign_in_by_steps


@pytest.fixture
def redis_server() -> Iterator[RedisProcess]:
    with own_redis() as started:
        yield started


@contextmanager
def _hub(database_url: str, tmp_path: Path, server: RedisProcess, policy_dir: Path) -> Iterator[Hub]:
    with run_hub(
        database_url,
        tmp_path,
        policy_dir=policy_dir,
        redis_url=server.url,
        redis_key_prefix=f"gerbang-test-{uuid.uuid4().hex[:8]}",
    ) as running:
        yield running


def test_sign_in_and_tokens_go_on_while_redis_is_down(
    database_url: str, tmp_path: Path, redis_server: RedisProcess
) -> None:
    with _hub(database_url, tmp_path, redis_server, DEFAULT_POLICY_DIR) as hub:
        client_id, secret = hub.client("Portal Kominfo")
        with httpx.Client(base_url=hub.url, follow_redirects=False, timeout=10) as http:
            sign_in_by_steps(http, client_id, secret, "warga@example.id")
        redis_server.kill()
        with httpx.Client(base_url=hub.url, follow_redirects=False, timeout=10) as http:
            signed_in = sign_in_by_steps(http, client_id, secret, "warga@example.id")
        assert signed_in.tokens["access_token"] and signed_in.tokens["id_token"]
        # Guessing is still slowed, by this process's own copy of the shipped limit (5 at once per account).
        browser = Browser(hub)
        page = browser.go(authorize_url(client_id, pkce_pair()[1]))
        answers = [browser.login(page, "asn@dishub.example.id", password=f"salah-{n}") for n in range(6)]
        assert [a.status_code for a in answers] == [200] * 5 + [429]
        browser.close()


def test_a_login_limit_that_fails_closed_says_temporarily_unavailable(
    database_url: str, tmp_path: Path, redis_server: RedisProcess
) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, policies, ignore=shutil.ignore_patterns("tests"))
    limits = policies / "20-limits.yaml"
    limits.write_text(
        limits.read_text().replace("    route_class: login\n", "    route_class: login\n    fail_mode: closed\n")
    )
    with _hub(database_url, tmp_path, redis_server, policies) as hub:
        redis_server.kill()
        browser = Browser(hub)
        page = browser.go(authorize_url(hub.client("Portal Kominfo")[0], pkce_pair()[1]))
        answer = browser.login(page, "warga@example.id")
        assert answer.status_code == 503 and int(answer.headers["retry-after"]) >= 1
        assert "sedang tidak tersedia" in answer.text and "Terlalu banyak" not in answer.text
        browser.close()
