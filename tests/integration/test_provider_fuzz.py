"""Property: no input makes a provider endpoint answer 5xx (authorization, token, UserInfo, logout, sign-up and
client registration), against a real hub on loopback, anonymous and signed in.

Parameters are the ones each endpoint reads, plus unknown ones; values are any text, repeated names, raw
percent-encoded bytes (invalid UTF-8 too) and odd headers. Deterministic (derandomized, no example database).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_from_bytes, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp.client_registration import issue_initial_token
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.flows import issue_tokens, signed_in_browser
from tests.support.hub import Browser, Hub, csrf_from, run_hub

WARGA = "warga@example.id"
EXAMPLES = 60
NAMES = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "id_token_hint",
    "ui_locales",
    "acr_values",
    "login_hint",
    "resource",
    "response_mode",
    "request",
    "request_uri",
    "grant_type",
    "code",
    "code_verifier",
    "refresh_token",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "access_token",
    "post_logout_redirect_uri",
    "csrf_token",
    "interaction",
    "name",
    "email",
    "nik",
    "password",
    "password_confirm",
    "token",
    "token_type_hint",
]
FUZZ = settings(
    max_examples=EXAMPLES, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
)


@pytest.fixture(scope="module")
def hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with run_hub(module_database_url, tmp_path_factory.mktemp("hub")) as running:
        yield running


@pytest.fixture(scope="module")
def known(hub: Hub) -> dict[str, str]:
    """Real values the fuzzer mixes in, so it also reaches past the first checks."""
    tokens = issue_tokens(hub, "Parkir Dishub")
    client_id, _ = hub.client("Parkir Dishub")
    return {
        "client_id": client_id,
        "redirect_uri": "http://127.0.0.1:9/cb",
        "response_type": "code",
        "scope": "openid profile",
        "code_challenge_method": "S256",
        "code_challenge": "a" * 43,
        "grant_type": "authorization_code",
        "id_token_hint": tokens["id_token"],
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
        "post_logout_redirect_uri": "http://127.0.0.1:9/cb/logged-out",
    }


def initial_tokens(hub: Hub, count: int) -> list[str]:
    """Kominfo's single-use permissions to register a client: one per example, so each reaches the metadata."""

    async def issue() -> list[str]:
        engine = build_engine(hub.settings.effective_database_url)
        try:
            async with build_sessionmaker(engine)() as session, session.begin():
                return [
                    (
                        await issue_initial_token(
                            session, created_by="fuzz", opd_slug=None, ttl=3600, now=int(time.time())
                        )
                    )[0]
                    for _ in range(count)
                ]
        finally:
            await engine.dispose()

    return asyncio.run(issue())


def pairs(known_values: dict[str, str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    name = st.sampled_from(NAMES) | st.text(max_size=12)
    value = (
        st.text(max_size=60)
        | st.sampled_from(sorted(known_values.values()))
        | st.sampled_from(
            ['"', "\\", "\t", "é", "\u202e", "\x00", "💥", "0", "-1", "none login", "code id_token", "openid " * 40]
        )
    )
    return st.lists(st.tuples(name, value), max_size=8)


def raw_query() -> st.SearchStrategy[str]:
    """Percent-encoded bytes, invalid UTF-8 included, straight into the query or form body."""
    byte_pairs = st.lists(st.tuples(st.binary(max_size=12), st.binary(max_size=40)), max_size=6)
    return byte_pairs.map(lambda items: "&".join(f"{quote_from_bytes(k)}={quote_from_bytes(v)}" for k, v in items))


def check(response: httpx.Response, what: Any) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:300])


def with_known(data: list[tuple[str, str]], known_values: dict[str, str], keep: int) -> list[tuple[str, str]]:
    base = [
        (k, v)
        for k, v in known_values.items()
        if k in ("client_id", "redirect_uri", "response_type", "scope", "code_challenge", "code_challenge_method")
    ]
    return base[:keep] + data


def test_authorization_endpoint(hub: Hub, known: dict[str, str]) -> None:
    anonymous, signed_in = Browser(hub), signed_in_browser(hub, WARGA)

    @FUZZ
    @given(data=pairs(known), keep=st.integers(0, 6), raw=raw_query(), who=st.booleans())
    def run(data: list[tuple[str, str]], keep: int, raw: str, who: bool) -> None:
        browser = signed_in if who else anonymous
        params = with_known(data, known, keep)
        check(browser.http.get("/auth/authorize", params=params), params)
        check(browser.http.post("/auth/authorize", data=dict(params)), params)
        check(browser.http.get(f"/auth/authorize?{raw}"), raw)

    run()


def test_token_endpoint(hub: Hub, known: dict[str, str]) -> None:
    client_id, secret = hub.client("Parkir Dishub")
    assert secret is not None

    @FUZZ
    @given(data=pairs(known), raw=raw_query(), auth=st.sampled_from([None, (client_id, secret), ("é", "x")]))
    def run(data: list[tuple[str, str]], raw: str, auth: tuple[str, str] | None) -> None:
        check(httpx.post(f"{hub.url}/auth/token", data=dict(data), auth=auth, timeout=10), data)
        check(
            httpx.post(
                f"{hub.url}/auth/token",
                content=raw.encode(),
                auth=auth,
                timeout=10,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ),
            raw,
        )

    run()


def test_userinfo_endpoint(hub: Hub, known: dict[str, str]) -> None:
    @FUZZ
    @given(
        data=pairs(known),
        scheme=st.sampled_from(["Bearer ", "bearer ", "Basic ", "", "DPoP "]),
        token=st.text(max_size=80) | st.sampled_from([known["access_token"], known["id_token_hint"]]),
    )
    def run(data: list[tuple[str, str]], scheme: str, token: str) -> None:
        header = (scheme + token).encode("utf-8")
        try:
            check(httpx.get(f"{hub.url}/auth/userinfo", headers={"Authorization": header}, timeout=10), header)
        except httpx.LocalProtocolError:  # a header no HTTP client can send
            pass
        check(httpx.post(f"{hub.url}/auth/userinfo", data=dict(data), timeout=10), data)

    run()


def test_logout_endpoint(hub: Hub, known: dict[str, str]) -> None:
    browser = signed_in_browser(hub, WARGA)

    @FUZZ
    @given(data=pairs(known), raw=raw_query())
    def run(data: list[tuple[str, str]], raw: str) -> None:
        check(browser.http.get("/auth/logout", params=data), data)
        check(browser.http.get(f"/auth/logout?{raw}"), raw)
        # A POST without our CSRF token is a relying party's request: it asks, it never signs out.
        form = urlencode([(k, v) for k, v in data if k != "csrf_token"])
        check(
            browser.http.post(
                "/auth/logout", content=form.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"}
            ),
            data,
        )

    run()


def test_sign_up_and_client_registration(hub: Hub, known: dict[str, str]) -> None:
    browser = Browser(hub)
    token = csrf_from(browser.go("/auth/register").text)
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=30),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=8,
    )
    metadata = st.dictionaries(
        st.sampled_from(
            [
                "redirect_uris",
                "client_name",
                "token_endpoint_auth_method",
                "grant_types",
                "response_types",
                "scope",
                "jwks",
                "jwks_uri",
                "post_logout_redirect_uris",
                "backchannel_logout_uri",
            ]
        )
        | st.text(max_size=8),
        json_values,
        max_size=5,
    )

    permissions = itertools.cycle(initial_tokens(hub, 20))

    @FUZZ
    @given(data=pairs(known), body=metadata, raw=raw_query())
    def run(data: list[tuple[str, str]], body: dict[str, Any], raw: str) -> None:
        check(browser.http.post("/auth/register", data={**dict(data), "csrf_token": token}), data)
        check(
            browser.http.post(
                "/auth/register",
                content=f"{raw}&csrf_token={token}".encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ),
            raw,
        )
        check(
            httpx.post(
                f"{hub.url}/auth/clients",
                json=body,
                timeout=10,
                headers={"Authorization": f"Bearer {next(permissions)}"},
            ),
            body,
        )

    run()
