"""RFC 8693 token exchange: e-budgeting calls BPKAD as the signed-in official, only where Kominfo's policy allows,
never with more scope, with ``act`` naming who acts, in the audit chain and the person's access history."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.apps import add_app
from idp.access_history import load_access_history
from idp.clients import TOKEN_EXCHANGE_GRANT
from idp.dpop.client import make_proof, thumbprint
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import AuditEntry
from tests.support.flows import REDIRECT_URI, obtain_code, redeem, register_client
from tests.support.hub import HUB_POLICIES, TEST_UPSTREAM_ADDRESSES, Hub, run_hub
from tests.support.records import rows

BPKAD = "https://bpkad.apps.palembang.go.id/"
BAPENDA = "https://bapenda.apps.palembang.go.id/"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
POLICY = f"""provider:
  exchanges:
    - id: e-budgeting-to-bpkad
      clients: [e-budgeting]
      audiences: ["{BPKAD}"]
    - id: bpkad-to-bapenda
      clients: [bpkad-kas]
      audiences: ["{BAPENDA}"]
"""


@pytest.fixture(scope="module")
def hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    tmp = tmp_path_factory.mktemp("hub")
    policy_dir = tmp / "policies"
    policy_dir.mkdir()
    shutil.copy(HUB_POLICIES / "00-hub.yaml", policy_dir / "00-hub.yaml")
    (policy_dir / "20-exchange.yaml").write_text(POLICY)
    with run_hub(module_database_url, tmp, policy_dir=policy_dir) as running:
        yield running


@pytest.fixture(scope="module")
def clients(hub: Hub) -> dict[str, tuple[str, str]]:
    grants = ("authorization_code", "refresh_token", TOKEN_EXCHANGE_GRANT)
    made = {}
    for client_id in ("e-budgeting", "bpkad-kas", "dinkes-lain", "tanpa-exchange"):
        allowed = grants if client_id != "tanpa-exchange" else grants[:2]
        registered, secret = register_client(
            hub,
            name=client_id,
            client_id=client_id,
            redirect_uris=(REDIRECT_URI,),
            scope="openid profile email",
            grant_types=allowed,
        )
        assert secret is not None
        made[client_id] = (registered, secret)

    async def bpkad_app() -> None:  # BPKAD's API is run by the bpkad-kas client: it may pass tokens meant for it on
        engine = build_engine(hub.settings.effective_database_url)
        async with build_sessionmaker(engine)() as session, session.begin():
            await add_app(
                session,
                addresses=TEST_UPSTREAM_ADDRESSES,
                slug="bpkad",
                opd_slug="bpkad",
                upstreams=("http://127.0.0.1:9/",),
                auth_mode="bearer",
                issuer=hub.url,
                now=0,
                client_id="bpkad-kas",
                resource=BPKAD,
            )
        await engine.dispose()

    asyncio.run(bpkad_app())
    return made


@pytest.fixture(scope="module")
def official_token(hub: Hub, clients: dict[str, tuple[str, str]]) -> str:
    client_id, secret = clients["e-budgeting"]
    response = redeem(hub, client_id, secret, obtain_code(hub, client_id, scope="openid profile email"))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def exchange(
    hub: Hub, client: tuple[str, str], subject: str, headers: dict[str, str] | None = None, **params: str
) -> httpx.Response:
    data = {"grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": subject, "subject_token_type": ACCESS, **params}
    return httpx.post(f"{hub.url}/auth/token", data=data, auth=client, headers=headers or {}, timeout=10)


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_exchange_narrows_scope_names_the_actor_and_is_recorded(
    hub: Hub, clients: dict[str, tuple[str, str]], official_token: str
) -> None:
    response = exchange(hub, clients["e-budgeting"], official_token, resource=BPKAD, scope="profile")
    assert response.status_code == 200, response.text
    assert response.json()["issued_token_type"] == ACCESS and "refresh_token" not in response.json()
    claims, subject = claims_of(response.json()["access_token"]), claims_of(official_token)
    assert claims["aud"] == BPKAD and claims["scope"] == "profile" and claims["sub"] == subject["sub"]
    assert claims["act"] == {"sub": "e-budgeting"} and claims["client_id"] == "e-budgeting"
    audit = [
        entry
        for entry in rows(hub.settings.effective_database_url, AuditEntry, AuditEntry.action == "token.exchange")
        if entry.detail["jti"] == claims["jti"]
    ]
    assert audit and audit[0].actor == "client:e-budgeting" and audit[0].detail["audience"] == BPKAD
    assert audit[0].detail["rule"] == "e-budgeting-to-bpkad"

    async def history() -> list[Any]:
        engine = build_engine(hub.settings.effective_database_url)
        async with build_sessionmaker(engine)() as session:
            found = await load_access_history(session, subject["sub"])
        await engine.dispose()
        return found

    assert any(entry.app == "e-budgeting" and entry.scope == "profile" for entry in asyncio.run(history()))


def test_delegation_chain_nests_act(hub: Hub, clients: dict[str, tuple[str, str]], official_token: str) -> None:
    first = exchange(hub, clients["e-budgeting"], official_token, resource=BPKAD, scope="profile").json()
    onward = exchange(hub, clients["bpkad-kas"], first["access_token"], audience=BAPENDA)
    assert onward.status_code == 200, onward.text
    assert claims_of(onward.json()["access_token"])["act"] == {"sub": "bpkad-kas", "act": {"sub": "e-budgeting"}}


def test_exchange_cannot_widen_the_scope(hub: Hub, clients: dict[str, tuple[str, str]], official_token: str) -> None:
    wider = exchange(hub, clients["e-budgeting"], official_token, resource=BPKAD, scope="profile opd")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    narrowed = exchange(hub, clients["e-budgeting"], official_token, resource=BPKAD, scope="profile").json()
    again = exchange(hub, clients["bpkad-kas"], narrowed["access_token"], audience=BAPENDA, scope="profile email")
    assert again.status_code == 400 and again.json()["error"] == "invalid_scope"


def test_exchange_cannot_reach_an_app_the_policy_does_not_allow(
    hub: Hub, clients: dict[str, tuple[str, str]], official_token: str
) -> None:
    for target in (
        {"resource": BAPENDA},
        {"audience": "https://simpeg.apps.palembang.go.id/"},
        {"resource": BPKAD, "audience": BAPENDA},
        {},
    ):
        refused = exchange(hub, clients["e-budgeting"], official_token, **target)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_target", target


def test_only_the_holder_may_exchange_and_only_live_user_tokens(
    hub: Hub, clients: dict[str, tuple[str, str]], official_token: str
) -> None:
    not_allowed = exchange(hub, clients["tanpa-exchange"], official_token, resource=BPKAD)
    assert not_allowed.status_code == 400 and not_allowed.json()["error"] == "unauthorized_client"
    stranger = exchange(hub, clients["dinkes-lain"], official_token, resource=BPKAD)
    assert stranger.status_code == 400 and stranger.json()["error"] == "invalid_grant"
    forged = official_token[:-8] + "AAAAAAAA"
    assert exchange(hub, clients["e-budgeting"], forged, resource=BPKAD).json()["error"] == "invalid_grant"
    revoked_token = redeem(hub, *clients["e-budgeting"], obtain_code(hub, clients["e-budgeting"][0])).json()
    httpx.post(f"{hub.url}/auth/revoke", data={"token": revoked_token["access_token"]}, auth=clients["e-budgeting"])
    revoked = exchange(hub, clients["e-budgeting"], revoked_token["access_token"], resource=BPKAD)
    assert revoked.json()["error"] == "invalid_grant"
    wrong_type = exchange(
        hub,
        clients["e-budgeting"],
        official_token,
        resource=BPKAD,
        subject_token_type="urn:ietf:params:oauth:token-type:id_token",
    )
    assert wrong_type.json()["error"] == "invalid_request"
    public, _ = hub.client("Aplikasi Publik")
    anonymous = httpx.post(
        f"{hub.url}/auth/token",
        data={
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "client_id": public,
            "subject_token": official_token,
            "subject_token_type": ACCESS,
            "resource": BPKAD,
        },
    )
    assert anonymous.status_code in (400, 401) and anonymous.json()["error"] in (
        "unauthorized_client",
        "invalid_client",
    )


def test_exchanged_token_can_be_dpop_bound(hub: Hub, clients: dict[str, tuple[str, str]], official_token: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    url = f"{hub.url}/auth/token"
    first = exchange(
        hub, clients["e-budgeting"], official_token, {"DPoP": make_proof(key, "POST", url)}, resource=BPKAD
    )
    nonce = first.headers["DPoP-Nonce"]
    bound = exchange(
        hub, clients["e-budgeting"], official_token, {"DPoP": make_proof(key, "POST", url, nonce=nonce)}, resource=BPKAD
    )
    assert bound.status_code == 200 and bound.json()["token_type"] == "DPoP", bound.text
    assert claims_of(bound.json()["access_token"])["cnf"] == {"jkt": thumbprint(key)}


def test_discovery_lists_the_grant(hub: Hub) -> None:
    metadata = httpx.get(f"{hub.url}/.well-known/openid-configuration").json()
    assert TOKEN_EXCHANGE_GRANT in metadata["grant_types_supported"]
