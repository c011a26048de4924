"""``gerbang keys rotate`` while clients hammer the token endpoint and a bearer app on two instances."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import jwt
import pytest

from tests.integration.scale.conftest import Town
from tests.support.eventually import eventually
from tests.support.instances import running
from tests.support.localhost_names import app_url

pytestmark = pytest.mark.slow


def test_rotation_under_load_fails_no_verification_and_takes_effect_everywhere(town: Town) -> None:
    with running(town.city, [None, None]) as instances:
        urls = [instance.url for instance in instances]
        done = threading.Event()
        kids: set[str] = set()
        counts = {"tokens": 0, "calls": 0}
        failures: list[str] = []

        def hammer(first: int) -> None:
            """A token from one instance, used at once at the other one's gateway (the worst case)."""
            auth = (town.client_id, town.client_secret)
            data = {"grant_type": "client_credentials", "scope": "parkir:read", "resource": town.resource}
            with httpx.Client(timeout=10) as http:
                turn = first
                while not done.is_set():
                    issuer, gateway = urls[turn % 2], urls[(turn + 1) % 2]
                    turn += 1
                    answer = http.post(f"{issuer}/auth/token", auth=auth, data=data)
                    if answer.status_code != 200:
                        failures.append(f"token {answer.status_code} {answer.text[:200]}")
                        continue
                    token = answer.json()["access_token"]
                    kids.add(jwt.get_unverified_header(token)["kid"])
                    counts["tokens"] += 1
                    used = http.get(f"{app_url(gateway, 'parkir')}/echo", headers={"Authorization": f"Bearer {token}"})
                    counts["calls"] += 1
                    if used.status_code != 200:
                        failures.append(f"gateway {used.status_code} {used.text[:200]}")

        with ThreadPoolExecutor(4) as pool:
            workers = [pool.submit(hammer, n) for n in range(4)]
            try:
                time.sleep(0.5)
                # production: at least the JWKS max-age; here long enough that a starved machine still checks
                # "published, not yet signing" inside the window
                town.city.env["GERBANG_KEY_ACTIVATION_DELAY"] = "8"
                for _ in range(2):
                    new_kid = town.city.cli("keys", "rotate", "--json").stdout
                    kid = json.loads(new_kid)["kid"]
                    # Both instances publish the new key, and only then sign with it (publish before sign).
                    eventually(
                        lambda: all(kid in httpx.get(f"{url}/auth/jwks").text for url in urls),  # noqa: B023
                        timeout=5,
                    )  # (each lambda is called before the loop moves on)
                    assert kid not in kids
                    eventually(lambda: kid in kids, timeout=40)  # noqa: B023
                time.sleep(0.5)
            finally:
                done.set()  # a failed check must end the load threads, not leave the test hanging
            for worker in workers:
                worker.result()
    print(
        f"key rotation under load: {counts['tokens']} tokens, {counts['calls']} gateway calls, "
        f"{len(kids)} keys seen, {len(failures)} failures"
    )
    assert failures == []
    assert len(kids) == 3 and counts["calls"] > 50
