"""Identity brokering against a real upstream OpenID provider: a second Gerbang hub stands in for INApas.

First sign-in (confirmation, then the account), linking only with proof, refusal on an unverified email,
``idp_hint``, acr mapping, upstream logout both ways, a replayed callback, and upstream failures.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy import select

from idp.federation.registry import UpstreamSpec, update_upstream
from idp.storage.models import FederatedIdentity, FederatedSession, User
from tests.support.broker_pair import (
    NEW_CITIZEN,
    SECRET_KEY,
    SLUG,
    UNVERIFIED,
    BrokerPair,
    TwoSiteBrowser,
    in_database,
    run_broker_pair,
)
from tests.support.hub import PASSWORD, TEST_UPSTREAM_ADDRESSES, authorize_url, pkce_pair, query_of

WARGA = "warga@example.id"  # on both hubs, verified at the upstream


@pytest.fixture
def pair(database_url: str, tmp_path: Path, _sqlite_template: Path) -> Iterator[BrokerPair]:
    upstream_db = tmp_path / "upstream.db"
    shutil.copy(_sqlite_template, upstream_db)
    with run_broker_pair(database_url, f"sqlite+aiosqlite:///{upstream_db}", tmp_path) as running:
        yield running


def users_named(pair: BrokerPair, email: str) -> list[User]:
    return in_database(pair.broker.settings.database_url, lambda s: _all(s, select(User).where(User.email == email)))


def identities(pair: BrokerPair) -> list[FederatedIdentity]:
    return in_database(pair.broker.settings.database_url, lambda s: _all(s, select(FederatedIdentity)))


async def _all(session, query):  # type: ignore[no-untyped-def]
    return list((await session.scalars(query)).all())


def start_at_client(browser: TwoSiteBrowser, **extra: str) -> tuple[httpx.Response, str]:
    """The Kominfo portal (first party: no consent page) asks the hub to sign the person in."""
    client_id, _ = browser.pair.broker.client("Portal Kominfo")
    verifier, challenge = pkce_pair()
    page = browser.go(authorize_url(client_id, challenge, **extra))
    return page, verifier


def choose_upstream(browser: TwoSiteBrowser, page: httpx.Response) -> httpx.Response:
    assert page.url.path == "/auth/login" and "Masuk dengan INApas" in page.text
    return browser.go(f"/auth/broker/{SLUG}/start?interaction={page.url.params['interaction']}")


def redeem(pair: BrokerPair, done: httpx.Response, verifier: str) -> dict:
    assert done.status_code == 303, done.text[:500]
    params = query_of(done.headers["location"])
    assert params["iss"] == pair.broker.url
    client_id, secret = pair.broker.client("Portal Kominfo")
    token = httpx.post(
        f"{pair.broker.url}/auth/token",
        auth=(client_id, secret),
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": "http://127.0.0.1:9/cb",
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.text
    return token.json()


def claims_of(tokens: dict) -> dict:
    return jwt.decode(tokens["id_token"], options={"verify_signature": False})


def test_first_sign_in_creates_the_account_after_confirmation(pair: BrokerPair) -> None:
    browser = TwoSiteBrowser(pair)
    page, verifier = start_at_client(browser)
    at_upstream = choose_upstream(browser, page)
    confirm = browser.upstream_login(at_upstream, NEW_CITIZEN)
    assert confirm.url.path == "/auth/broker/confirm" and confirm.status_code == 200
    assert "Rina Baru" in confirm.text and NEW_CITIZEN in confirm.text
    assert users_named(pair, NEW_CITIZEN) == []  # nothing is written before the person confirms
    done = browser.confirm(confirm)
    claims = claims_of(redeem(pair, done, verifier))
    [user] = users_named(pair, NEW_CITIZEN)
    assert claims["sub"] == user.id and claims["amr"] == ["fed", "pwd"] and claims["acr"] == "1"
    assert user.password_hash is None and user.email_verified and user.kind == "citizen"
    [identity] = identities(pair)
    assert identity.user_id == user.id and identity.idp_slug == SLUG
    # The second time: straight in, no confirmation.
    browser.close()
    again = TwoSiteBrowser(pair)
    page, verifier = start_at_client(again)
    done = again.upstream_login(choose_upstream(again, page), NEW_CITIZEN)
    assert claims_of(redeem(pair, done, verifier))["sub"] == user.id
    account = again.go("/account")
    assert account.status_code == 200 and 'data-idp="inapas"' in account.text


def test_an_existing_account_is_linked_only_with_its_password(pair: BrokerPair) -> None:
    browser = TwoSiteBrowser(pair)
    page, verifier = start_at_client(browser)
    confirm = browser.upstream_login(choose_upstream(browser, page), WARGA)
    assert confirm.url.path == "/auth/broker/confirm" and 'id="existing-account"' in confirm.text
    assert 'name="password"' in confirm.text
    wrong = browser.confirm(confirm, password="bukan-kata-sandinya-2026")
    assert wrong.status_code == 400 and 'id="broker-error"' in wrong.text
    assert identities(pair) == []
    done = browser.confirm(wrong, password=PASSWORD)
    claims = claims_of(redeem(pair, done, verifier))
    [user] = users_named(pair, WARGA)
    assert claims["sub"] == user.id and claims["amr"] == ["fed", "pwd"]
    [identity] = identities(pair)
    assert identity.user_id == user.id
    assert len(users_named(pair, WARGA)) == 1


def test_an_unverified_email_never_links_or_creates(pair: BrokerPair) -> None:
    browser = TwoSiteBrowser(pair)
    page, _ = start_at_client(browser)
    refused = browser.upstream_login(choose_upstream(browser, page), UNVERIFIED)
    assert refused.status_code == 409 and refused.url.path.endswith("/callback")
    assert 'name="password"' in refused.text and "Masuk dengan INApas" in refused.text  # the password form
    assert identities(pair) == []
    [local] = users_named(pair, UNVERIFIED)
    assert local.name == "Tamu Lokal"


def test_idp_hint_goes_straight_to_the_upstream(pair: BrokerPair) -> None:
    browser = TwoSiteBrowser(pair)
    page, verifier = start_at_client(browser, idp_hint=SLUG)
    assert page.url.host == "localhost" and page.url.path == "/auth/login"
    confirm = browser.upstream_login(page, WARGA)
    done = browser.confirm(confirm, password=PASSWORD)
    assert claims_of(redeem(pair, done, verifier))["amr"][0] == "fed"
    unknown = TwoSiteBrowser(pair)
    page, _ = start_at_client(unknown, idp_hint="tidak-ada")
    assert page.url.host == "127.0.0.1" and page.url.path == "/auth/login"


def test_upstream_acr_maps_to_the_local_level_and_satisfies_step_up(pair: BrokerPair) -> None:
    in_database(
        pair.broker.settings.database_url,
        lambda s: update_upstream(
            s,
            SLUG,
            UpstreamSpec(acr_map={"1": "2"}),
            secret=SECRET_KEY.encode(),
            actor="test",
            now=int(time.time()),
            addresses=TEST_UPSTREAM_ADDRESSES,
        ),
    )
    browser = TwoSiteBrowser(pair)
    page, verifier = start_at_client(browser, acr_values="2")
    done = browser.upstream_login(choose_upstream(browser, page), NEW_CITIZEN)
    done = browser.confirm(done)
    claims = claims_of(redeem(pair, done, verifier))
    assert claims["acr"] == "2" and claims["amr"] == ["fed", "pwd"]  # no local second factor asked


def sign_in_brokered(pair: BrokerPair) -> tuple[TwoSiteBrowser, dict]:
    browser = TwoSiteBrowser(pair)
    page, verifier = start_at_client(browser)
    done = browser.confirm(browser.upstream_login(choose_upstream(browser, page), NEW_CITIZEN))
    return browser, redeem(pair, done, verifier)


def is_signed_in(browser: TwoSiteBrowser, base: str) -> bool:
    return browser.http.get(f"{base}/account").status_code == 200


def test_logout_at_the_hub_ends_the_upstream_session_too(pair: BrokerPair) -> None:
    browser, tokens = sign_in_brokered(pair)
    assert is_signed_in(browser, pair.broker.url) and is_signed_in(browser, pair.upstream.url)
    client_id, _ = pair.broker.client("Portal Kominfo")
    done = browser.go(f"/auth/logout?{httpx.QueryParams({'id_token_hint': tokens['id_token'], 'state': 'bye'})}")
    assert done.status_code == 200 and done.url.path == "/auth/broker/logged-out"
    assert not is_signed_in(browser, pair.broker.url)
    assert not is_signed_in(browser, pair.upstream.url)


def test_back_channel_logout_from_the_upstream_ends_the_hub_session(pair: BrokerPair) -> None:
    browser, _ = sign_in_brokered(pair)
    [brokered] = in_database(pair.broker.settings.database_url, lambda s: _all(s, select(FederatedSession)))
    assert brokered.upstream_sid
    page = browser.http.get(f"{pair.upstream.url}/account")
    from tests.support.broker_pair import csrf

    browser.http.post(f"{pair.upstream.url}/account/sessions/end-all", data={"csrf_token": csrf(page.text)})
    deadline = time.monotonic() + 10
    while is_signed_in(browser, pair.broker.url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not is_signed_in(browser, pair.broker.url)


def test_a_forged_logout_token_is_refused(pair: BrokerPair) -> None:
    browser, tokens = sign_in_brokered(pair)
    forged = jwt.encode(
        {
            "iss": pair.upstream.url,
            "aud": pair.upstream_client_id,
            "iat": int(time.time()),
            "jti": "x",
            "sub": claims_of(tokens)["sub"],
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        },
        "k" * 32,
        algorithm="HS256",
    )
    answer = httpx.post(f"{pair.broker.url}/auth/broker/{SLUG}/backchannel-logout", data={"logout_token": forged})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert is_signed_in(browser, pair.broker.url)


def test_a_callback_is_used_once_and_only_in_the_browser_that_started_it(pair: BrokerPair) -> None:
    browser = TwoSiteBrowser(pair)
    page, _ = start_at_client(browser)
    at_upstream = choose_upstream(browser, page)
    interaction = at_upstream.url.params["interaction"]
    answer = browser.http.post(
        f"{pair.upstream.url}/auth/login",
        data={
            "login": WARGA,
            "password": PASSWORD,
            "interaction": interaction,
            "csrf_token": __import__("tests.support.broker_pair", fromlist=["csrf"]).csrf(at_upstream.text),
        },
    )
    while answer.status_code in (302, 303) and "/callback" not in answer.headers["location"]:
        answer = browser.http.get(str(answer.url.join(answer.headers["location"])))
    callback = str(answer.url.join(answer.headers["location"]))
    other = httpx.get(callback)  # another browser (an attacker who got the URL): no cookie, refused
    assert other.status_code == 400
    first = browser.http.get(callback)
    assert first.status_code == 303 and first.headers["location"] == "/auth/broker/confirm"
    assert browser.http.get(callback).status_code == 400  # replayed


@pytest.mark.parametrize("failure", ["down", "slow", "garbage"])
def test_an_upstream_that_fails_gives_the_password_form(
    pair: BrokerPair, failure: str, broken_upstream: dict[str, str]
) -> None:
    from idp.federation.registry import add_upstream

    in_database(
        pair.broker.settings.database_url,
        lambda s: add_upstream(
            s,
            "rusak",
            UpstreamSpec(name="Rusak", issuer=broken_upstream[failure], client_id="c", client_secret="s" * 20),
            secret=SECRET_KEY.encode(),
            actor="test",
            now=int(time.time()),
            addresses=TEST_UPSTREAM_ADDRESSES,
        ),
    )
    browser = TwoSiteBrowser(pair)
    page, _ = start_at_client(browser)
    started = time.monotonic()
    failed = browser.go(f"/auth/broker/rusak/start?interaction={page.url.params['interaction']}")
    assert time.monotonic() - started < 5
    assert failed.status_code == 502 and 'name="password"' in failed.text
    assert "tidak dapat dihubungi" in failed.text
    assert identities(pair) == [] and users_named(pair, NEW_CITIZEN) == []


@pytest.fixture(scope="module")
def broken_upstream() -> Iterator[dict[str, str]]:
    """Upstreams that fail: a closed port, one that answers too late, one that answers HTML."""
    import asyncio

    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    from tests.support.hub import free_port
    from tests.support.server import run_server

    async def slow(_request):  # type: ignore[no-untyped-def]
        await asyncio.sleep(4)
        return HTMLResponse("late")

    async def garbage(_request):  # type: ignore[no-untyped-def]
        return HTMLResponse("<html>Maintenance</html>")

    app = Starlette(
        routes=[
            Route("/slow/.well-known/openid-configuration", slow),
            Route("/garbage/.well-known/openid-configuration", garbage),
        ]
    )
    with run_server(app) as url:
        yield {"down": f"http://127.0.0.1:{free_port()}", "slow": f"{url}/slow", "garbage": f"{url}/garbage"}


def test_private_key_jwt_toward_the_upstream(pair: BrokerPair) -> None:
    """INApas registers relying parties by their EC public key: the hub authenticates with private_key_jwt."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from sqlalchemy import update

    from idp.federation.registry import public_jwk_of
    from idp.storage.models import Client

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    jwk = public_jwk_of(pem)
    in_database(
        pair.upstream.settings.database_url,
        lambda s: s.execute(
            update(Client)
            .where(Client.client_id == pair.upstream_client_id)
            .values(auth_method="private_key_jwt", secret_digest=None, jwks={"keys": [jwk]})
        ),
    )
    in_database(
        pair.broker.settings.database_url,
        lambda s: update_upstream(
            s,
            SLUG,
            UpstreamSpec(private_key_pem=pem),
            secret=SECRET_KEY.encode(),
            actor="test",
            now=int(time.time()),
            addresses=TEST_UPSTREAM_ADDRESSES,
        ),
    )
    browser = TwoSiteBrowser(pair)
    page, verifier = start_at_client(browser)
    done = browser.confirm(browser.upstream_login(choose_upstream(browser, page), NEW_CITIZEN))
    assert claims_of(redeem(pair, done, verifier))["amr"] == ["fed", "pwd"]


def test_unlinking_keeps_the_last_way_in(pair: BrokerPair) -> None:
    from tests.support.broker_pair import csrf

    created, _ = sign_in_brokered(pair)  # an account made upstream: no password, one identity
    account = created.go("/account")
    [identity] = identities(pair)
    kept = created.post(
        f"{pair.broker.url}/account/identities/unlink",
        {"identity_id": str(identity.id), "csrf_token": csrf(account.text)},
    )
    assert kept.url.params["done"] == "identity_kept" and len(identities(pair)) == 1
    linked = TwoSiteBrowser(pair)  # Siti has a password: her linked identity may go
    page, verifier = start_at_client(linked)
    redeem(
        pair, linked.confirm(linked.upstream_login(choose_upstream(linked, page), WARGA), password=PASSWORD), verifier
    )
    account = linked.go("/account")
    [siti_identity] = [i for i in identities(pair) if i.id != identity.id]
    done = linked.post(
        f"{pair.broker.url}/account/identities/unlink",
        {"identity_id": str(siti_identity.id), "csrf_token": csrf(account.text)},
    )
    assert done.url.params["done"] == "identity_unlinked"
    assert [i.id for i in identities(pair)] == [identity.id]
    other = linked.post(
        f"{pair.broker.url}/account/identities/unlink",  # someone else's identity: untouched
        {"identity_id": str(identity.id), "csrf_token": csrf(account.text)},
    )
    assert other.url.params["done"] == "identity_kept" and len(identities(pair)) == 1


def test_passkey_proof_refuses_forgeries_and_strangers(pair: BrokerPair) -> None:
    from tests.support.broker_pair import csrf

    stranger = httpx.Client(base_url=pair.broker.url)
    token = csrf(stranger.get("/auth/login").text)
    assert stranger.post("/auth/broker/passkey/options", json={"csrf_token": token}).status_code == 401
    browser = TwoSiteBrowser(pair)
    page, _ = start_at_client(browser)
    confirm = browser.upstream_login(choose_upstream(browser, page), WARGA)
    token = csrf(confirm.text)
    options = browser.http.post(f"{pair.broker.url}/auth/broker/passkey/options", json={"csrf_token": token})
    assert options.status_code == 200 and options.json()["challenge"]
    assert browser.http.post(f"{pair.broker.url}/auth/broker/passkey/options", json={}).status_code == 403
    forged = {
        "id": "AAAA",
        "rawId": "AAAA",
        "type": "public-key",
        "response": {"clientDataJSON": "e30", "authenticatorData": "AAAA", "signature": "AAAA"},
    }
    refused = browser.http.post(
        f"{pair.broker.url}/auth/broker/passkey", json={"csrf_token": token, "credential": forged}
    )
    assert refused.status_code == 400 and refused.json() == {"error": "passkey_rejected"}
    assert identities(pair) == []
    stranger.close()


def test_an_upstream_key_rotation_is_followed(pair: BrokerPair) -> None:
    """The hub caches the upstream's JWKS; a token signed with a key it has not seen makes it fetch them again."""
    from idp.federation.discovery import UNKNOWN_KID_INTERVAL
    from idp.key_rotation import rotate_signing_key

    browser, _ = sign_in_brokered(pair)
    fetched_at = time.monotonic()
    signing_now = pair.upstream.settings.model_copy(update={"key_activation_delay": 0})  # no pre-publication here
    in_database(
        pair.upstream.settings.database_url,
        lambda s: rotate_signing_key(s, signing_now, actor="test", now=int(time.time())),
    )

    def primary_keys() -> int:
        return sum(key.get("alg") == "ES256" for key in httpx.get(f"{pair.upstream.url}/auth/jwks").json()["keys"])

    deadline = time.monotonic() + 10
    while primary_keys() < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(max(0.0, UNKNOWN_KID_INTERVAL + 1.0 - (time.monotonic() - fetched_at)))  # the upstream signs anew
    browser.close()
    again = TwoSiteBrowser(pair)
    page, verifier = start_at_client(again)
    done = again.upstream_login(choose_upstream(again, page), NEW_CITIZEN)
    assert done.status_code == 303, done.text[:300]  # not the "answer could not be accepted" page
    redeem(pair, done, verifier)
    brokered = in_database(pair.broker.settings.database_url, lambda s: _all(s, select(FederatedSession)))
    upstream_kids = {jwt.get_unverified_header(row.id_token)["kid"] for row in brokered}
    assert len(brokered) == 2 and len(upstream_kids) == 2  # the second upstream ID token: the new key, verified
