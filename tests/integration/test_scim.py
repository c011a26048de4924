"""SCIM 2.0 at /scim/v2 on a real hub (both backends): discovery, Users with the enterprise extension, filters,
sorting, paging, PATCH, ETags, Groups as a unit's role, a client confined to its OPD subtree, deprovisioning
that ends sessions and tokens at once, and every change audited with the client as actor."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from gateway.app import create_app
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import AuditEntry
from tests.support.flows import issue_tokens
from tests.support.hub import PASSWORD, Browser, Hub, authorize_url, pkce_pair, run_hub
from tests.support.scim import ENTERPRISE, add_units, asn, provisioning_client, scim_http, scim_token

NIP = "198501012010011001"


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with run_hub(database_url, tmp_path, app_factory=create_app) as running:
        add_units(
            running,
            [
                ("dinkes", "dinas", "kota-palembang"),
                ("puskesmas-ilir", "puskesmas", "dinkes"),
                ("bapenda", "badan", "kota-palembang"),
            ],
        )
        yield running


@pytest.fixture
def dinkes(hub: Hub) -> Iterator[httpx.Client]:
    client = scim_http(hub, scim_token(hub, *provisioning_client(hub, "dinkes")))
    yield client
    client.close()


def audit(hub: Hub, prefix: str) -> list[AuditEntry]:
    async def load() -> list[AuditEntry]:
        engine = build_engine(hub.settings.effective_database_url)
        try:
            async with build_sessionmaker(engine)() as session:
                return list(
                    (
                        await session.scalars(
                            select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.seq)
                        )
                    ).all()
                )
        finally:
            await engine.dispose()

    return asyncio.run(load())


def test_discovery(dinkes: httpx.Client) -> None:
    config = dinkes.get("/ServiceProviderConfig")
    assert config.status_code == 200 and config.headers["content-type"].startswith("application/scim+json")
    assert config.json()["patch"]["supported"] and config.json()["etag"]["supported"]
    types = dinkes.get("/ResourceTypes").json()
    assert {r["id"] for r in types["Resources"]} == {"User", "Group"}
    schemas = dinkes.get("/Schemas").json()["Resources"]
    assert ENTERPRISE in {s["id"] for s in schemas}
    assert dinkes.get(f"/Schemas/{ENTERPRISE}").json()["attributes"][0]["name"] == "employeeNumber"


def test_unauthenticated_and_wrong_tokens_are_refused(hub: Hub) -> None:
    assert httpx.get(f"{hub.url}/scim/v2/Users").status_code == 401
    client_id, secret = provisioning_client(hub, "dinkes", scope="scim other")
    no_scim = scim_token(hub, client_id, secret, scope="other")
    answer = scim_http(hub, no_scim).get("/Users")
    assert answer.status_code == 403 and answer.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    user_token = issue_tokens(hub, "Parkir Dishub")["access_token"]  # a person's token is not a provisioning client
    assert scim_http(hub, user_token).get("/Users").status_code == 401


def test_user_lifecycle_with_enterprise_extension_etag_and_audit(hub: Hub, dinkes: httpx.Client) -> None:
    created = dinkes.post("/Users", json=asn("ani@dinkes.example.id", "dr. Ani", "puskesmas-ilir", NIP))
    assert created.status_code == 201, created.text
    user = created.json()
    assert user[ENTERPRISE] == {"employeeNumber": NIP, "department": "puskesmas-ilir"}
    assert created.headers["etag"] == user["meta"]["version"] and created.headers["location"].endswith(user["id"])
    again = dinkes.post("/Users", json=asn("ani@dinkes.example.id", "dr. Ani"))
    assert again.status_code == 409 and again.json()["scimType"] == "uniqueness"
    etag = created.headers["etag"]
    assert dinkes.get(f"/Users/{user['id']}", headers={"If-None-Match": etag}).status_code == 304
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "dr. Ani Lestari"}],
    }
    patched = dinkes.patch(f"/Users/{user['id']}", json=patch, headers={"If-Match": etag})
    assert patched.status_code == 200 and patched.json()["displayName"] == "dr. Ani Lestari"
    stale = dinkes.patch(f"/Users/{user['id']}", json=patch, headers={"If-Match": etag})
    assert stale.status_code == 412
    replaced = dinkes.put(f"/Users/{user['id']}", json=asn("ani@dinkes.example.id", "Ani", "dinkes", NIP))
    assert replaced.status_code == 200 and replaced.json()[ENTERPRISE]["department"] == "dinkes"
    assert dinkes.delete(f"/Users/{user['id']}").status_code == 204
    assert dinkes.get(f"/Users/{user['id']}").status_code == 404
    actions = [(e.actor, e.action) for e in audit(hub, "scim.user.")]
    client_actor = actions[0][0]
    assert client_actor.startswith("client:") and all(actor == client_actor for actor, _ in actions)
    assert [a for _, a in actions] == ["scim.user.create", "scim.user.patch", "scim.user.replace", "scim.user.delete"]


def test_filters_sorting_and_paging(dinkes: httpx.Client) -> None:
    for i, (name, unit) in enumerate([("Budi", "dinkes"), ("Citra", "puskesmas-ilir"), ("Dedi", "dinkes")]):
        body = asn(f"{name.lower()}@dinkes.example.id", name, unit, f"19850101201001100{i}")
        assert dinkes.post("/Users", json=body).status_code == 201

    def names(**params: str) -> list[str]:
        answer = dinkes.get("/Users", params=params)
        assert answer.status_code == 200, answer.text
        return [r["displayName"] for r in answer.json()["Resources"]]

    assert names(filter='userName eq "CITRA@dinkes.example.id"') == ["Citra"]
    assert names(filter='displayName sw "b" or displayName co "edi"', sortBy="displayName") == ["Budi", "Dedi"]
    assert names(filter=f'{ENTERPRISE}:department eq "dinkes" and not (displayName eq "Budi")') == ["Dedi"]
    assert names(filter="employeeNumber pr and active eq true", sortBy="userName", sortOrder="descending") == [
        "Dedi",
        "Citra",
        "Budi",
    ]
    assert names(filter='emails[value ew "@dinkes.example.id"]', sortBy="userName") == ["Budi", "Citra", "Dedi"]
    page = dinkes.get("/Users", params={"sortBy": "userName", "startIndex": "2", "count": "1"}).json()
    assert page["totalResults"] == 3 and page["startIndex"] == 2 and page["itemsPerPage"] == 1
    assert page["Resources"][0]["displayName"] == "Citra"
    only = dinkes.get("/Users", params={"attributes": "userName", "count": "1"}).json()["Resources"][0]
    assert "userName" in only and "displayName" not in only
    bad = dinkes.get("/Users", params={"filter": "userName eq"})
    assert bad.status_code == 400 and bad.json()["scimType"] == "invalidFilter"
    assert dinkes.get("/Users", params={"filter": 'password eq "x"'}).json()["scimType"] == "invalidFilter"


def test_a_client_is_confined_to_its_subtree(hub: Hub, dinkes: httpx.Client) -> None:
    bapenda = scim_http(hub, scim_token(hub, *provisioning_client(hub, "bapenda")))
    rina = bapenda.post("/Users", json=asn("rina@bapenda.example.id", "Rina", "bapenda")).json()
    assert dinkes.get(f"/Users/{rina['id']}").status_code == 404
    assert dinkes.get("/Users", params={"filter": 'userName eq "rina@bapenda.example.id"'}).json()["totalResults"] == 0
    assert dinkes.delete(f"/Users/{rina['id']}").status_code == 404
    outside = dinkes.post("/Users", json=asn("x@dinkes.example.id", "X", "bapenda"))
    assert outside.status_code == 400 and outside.json()["scimType"] == "invalidValue"
    # Citizens and seeded staff of other units are not SCIM's to see.
    assert dinkes.get("/Users").json()["totalResults"] == 0
    assert bapenda.get("/Users").json()["totalResults"] == 1
    bapenda.close()


def test_groups_are_a_units_role(hub: Hub, dinkes: httpx.Client) -> None:
    ani = dinkes.post("/Users", json=asn("ani@dinkes.example.id", "Ani", "puskesmas-ilir")).json()
    budi = dinkes.post("/Users", json=asn("budi@dinkes.example.id", "Budi", "puskesmas-ilir")).json()
    group = dinkes.post(
        "/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "puskesmas-ilir/perawat",
            "members": [{"value": ani["id"]}],
        },
    )
    assert group.status_code == 201, group.text
    assert group.json()["id"] == "puskesmas-ilir:perawat" and [m["value"] for m in group.json()["members"]] == [
        ani["id"]
    ]
    added = dinkes.patch(
        "/Groups/puskesmas-ilir:perawat",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": budi["id"]}]}],
        },
    )
    assert added.status_code == 200, added.text
    assert {m["value"] for m in added.json()["members"]} == {ani["id"], budi["id"]}
    assert dinkes.get(f"/Users/{ani['id']}").json()["groups"][0]["display"] == "puskesmas-ilir/perawat"
    admin = dinkes.post(
        "/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "dinkes/opd-admin",
            "members": [{"value": ani["id"]}],
        },
    )
    assert admin.status_code == 400  # administrative roles are Kominfo's to grant
    moved = dinkes.put(f"/Users/{ani['id']}", json=asn("ani@dinkes.example.id", "Ani", "dinkes"))
    assert moved.status_code == 200 and "groups" not in moved.json()  # the old unit's role is gone at once
    assert [m["value"] for m in dinkes.get("/Groups/puskesmas-ilir:perawat").json()["members"]] == [budi["id"]]
    assert dinkes.delete("/Groups/puskesmas-ilir:perawat").status_code == 204
    assert dinkes.get("/Groups/puskesmas-ilir:perawat").status_code == 404
    entries = audit(hub, "scim.group.")
    assert [e.action for e in entries] == ["scim.group.create", "scim.group.patch", "scim.group.delete"]
    assert len({e.actor for e in entries}) == 1 and entries[0].actor.startswith("client:")
    assert [e.detail["removed"] for e in entries][-1] == [budi["id"]]


def test_deactivation_ends_sessions_and_tokens_at_once(hub: Hub, dinkes: httpx.Client) -> None:
    created = dinkes.post("/Users", json=asn("eka@dinkes.example.id", "Eka", "dinkes")).json()
    from sqlalchemy import update

    from idp.passwords import hash_sync
    from idp.storage.models import User

    async def give_password() -> None:
        engine = build_engine(hub.settings.effective_database_url)
        async with build_sessionmaker(engine)() as session, session.begin():
            await session.execute(
                update(User).where(User.id == created["id"]).values(password_hash=hash_sync(PASSWORD))
            )
        await engine.dispose()

    asyncio.run(give_password())
    gateway_session = asyncio.run(_add_gateway_session(hub, created["id"]))
    tokens = issue_tokens(hub, "Parkir Dishub", login="eka@dinkes.example.id")
    browser = Browser(hub)
    _, challenge = pkce_pair()
    page = browser.go(authorize_url(hub.client("Parkir Dishub")[0], challenge))
    browser.login(page, "eka@dinkes.example.id")
    assert browser.http.get("/account").status_code == 200
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    assert dinkes.patch(f"/Users/{created['id']}", json=patch).json()["active"] is False
    assert browser.http.get("/account").status_code == 303  # signed out
    introspected = httpx.post(
        f"{hub.url}/auth/introspect", data={"token": tokens["refresh_token"]}, auth=hub.client("Parkir Dishub")
    )
    assert introspected.json()["active"] is False
    refreshed = httpx.post(
        f"{hub.url}/auth/token",
        auth=hub.client("Parkir Dishub"),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.status_code == 400
    info = httpx.get(f"{hub.url}/auth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401
    assert asyncio.run(_gateway_session_ended(hub, gateway_session))
    browser.close()


async def _add_gateway_session(hub: Hub, user_id: str) -> str:
    """A gateway session of a ``session`` app not tied to a hub session (signed in before, elsewhere)."""
    import secrets
    import time

    from idp.storage.gateway_models import GatewaySession

    digest, now = secrets.token_hex(32), int(time.time())
    engine = build_engine(hub.settings.effective_database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        session.add(
            GatewaySession(
                id_digest=digest,
                idp_sid=None,
                user_id=user_id,
                acr="1",
                amr=["pwd"],
                id_token="x",
                created_at=now,
                expires_at=now + 3600,
            )
        )
    await engine.dispose()
    return digest


async def _gateway_session_ended(hub: Hub, digest: str) -> bool:
    from idp.storage.gateway_models import GatewaySession

    engine = build_engine(hub.settings.effective_database_url)
    async with build_sessionmaker(engine)() as session:
        row = await session.get(GatewaySession, digest)
    await engine.dispose()
    return row is not None and row.ended_at is not None


def test_scim2_tester_compliance(hub: Hub, dinkes: httpx.Client) -> None:
    """The scim2-tester checker against /scim/v2: discovery, then create, query (GET, list, POST .search, with
    attributes), replace, PATCH (add, remove, replace of every published attribute) and delete of Users with
    random values — every check passes. (Groups are named UNIT/ROLE, which random names are not;
    ``test_groups_are_a_units_role`` covers them.)"""
    from scim2_tester import Status, check_server

    from tests.support.scim import compliance_client

    results = check_server(compliance_client(dinkes), resource_types=["User"])
    failed = [(r.title, r.reason) for r in results if r.status != Status.SUCCESS]
    assert failed == []
    titles = {r.title for r in results}
    assert {
        "object_creation",
        "object_replacement",
        "check_add_attribute",
        "check_remove_attribute",
        "check_replace_attribute",
        "search_with_attributes",
        "object_deletion",
        "random_url",
    } <= titles
    assert len(results) >= 50
