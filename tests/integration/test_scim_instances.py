"""Deprovisioning across two real ``gerbang serve`` instances sharing one database: the staffing system
deactivates an ASN through instance A; the session and tokens the person holds stop working on instance B
within seconds."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx

from tests.support.eventually import eventually
from tests.support.hub import PASSWORD, pkce_pair
from tests.support.instances import City, new_city, running

REDIRECT = "http://127.0.0.1:9/cb"


def one_json(done) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(done.stdout.strip().splitlines()[-1])


def seed(city: City) -> tuple[dict, dict]:
    city.cli("opd", "add", "--slug", "kota-palembang", "--name", "Kota Palembang", "--kind", "kota")
    city.cli(
        "opd", "add", "--slug", "dinkes", "--name", "Dinas Kesehatan", "--kind", "dinas", "--parent", "kota-palembang"
    )
    provisioning = one_json(
        city.cli(
            "clients",
            "add",
            "--name",
            "SIMPEG Dinkes",
            "--opd",
            "dinkes",
            "--grant",
            "client_credentials",
            "--scope",
            "scim",
            "--resource",
            f"{city.issuer}/scim/v2/",
            "--json",
        )
    )
    app = one_json(
        city.cli(
            "clients",
            "add",
            "--name",
            "SIMPUS",
            "--opd",
            "dinkes",
            "--redirect-uri",
            REDIRECT,
            "--first-party",
            "--json",
        )
    )
    return provisioning, app


def sign_in_and_get_tokens(base: str, app: dict, email: str) -> tuple[httpx.Client, dict]:
    browser = httpx.Client(base_url=base, follow_redirects=False, timeout=10)
    verifier, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "s",
        "nonce": "n",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = browser.get("/auth/authorize", params=query)
    while page.status_code in (302, 303):
        page = browser.get(page.headers["location"])
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    done = browser.post(
        "/auth/login",
        data={"login": email, "password": PASSWORD, "csrf_token": csrf, "interaction": page.url.params["interaction"]},
    )
    while done.status_code in (302, 303) and done.headers["location"].startswith("/"):
        done = browser.get(done.headers["location"])
    code = httpx.URL(done.headers["location"]).params["code"]
    tokens = httpx.post(
        f"{base}/auth/token",
        auth=(app["client_id"], app["client_secret"]),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
    )
    assert tokens.status_code == 200, tokens.text
    return browser, tokens.json()


def test_deactivation_through_one_instance_ends_everything_on_the_other(database_url: str, tmp_path: Path) -> None:
    city = new_city(database_url, tmp_path)
    provisioning, app = seed(city)
    add_staff(city, "eka@dinkes.example.id")
    with running(city, [None, None]) as (a, b):
        token = httpx.post(
            f"{a.url}/auth/token",
            auth=(provisioning["client_id"], provisioning["client_secret"]),
            data={"grant_type": "client_credentials", "scope": "scim", "resource": f"{city.issuer}/scim/v2/"},
        ).json()["access_token"]
        scim = httpx.Client(
            base_url=f"{a.url}/scim/v2",
            timeout=10,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
        )
        person = scim.get("/Users", params={"filter": 'userName eq "eka@dinkes.example.id"'}).json()["Resources"][0]
        browser, tokens = sign_in_and_get_tokens(b.url, app, "eka@dinkes.example.id")
        assert browser.get("/account").status_code == 200
        started = time.monotonic()
        off = scim.patch(
            f"/Users/{person['id']}",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": False}],
            },
        )
        assert off.status_code == 200 and off.json()["active"] is False
        eventually(lambda: browser.get("/account").status_code == 303, timeout=5)
        info = httpx.get(f"{b.url}/auth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert info.status_code == 401
        refreshed = httpx.post(
            f"{b.url}/auth/token",
            auth=(app["client_id"], app["client_secret"]),
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        )
        assert refreshed.status_code == 400
        assert time.monotonic() - started < 5
        scim.close()
        browser.close()


def add_staff(city: City, email: str) -> None:
    """An ASN of Dinkes with a password (``gerbang users add``; SCIM-provisioned staff sign in upstream)."""
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "users",
            "add",
            "--email",
            email,
            "--name",
            "Eka",
            "--opd",
            "dinkes",
            "--password-stdin",
            "--json",
        ],
        env=city.environment(),
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
