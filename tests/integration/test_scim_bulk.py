"""RFC 7644 §3.7 SCIM Bulk on a real hub (both backends): bulkId references in any order, failOnErrors,
maxOperations and maxPayloadSize advertised and enforced, each operation atomic and audited with the client as
actor, a client confined to its subtree inside a bulk request too."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.app import create_app
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import AuditEntry
from tests.support.hub import Hub, run_hub
from tests.support.scim import ENTERPRISE, add_units, asn, provisioning_client, scim_http, scim_token

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


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


def bulk(http: httpx.Client, operations: list[dict[str, Any]], **extra: Any) -> httpx.Response:
    return http.post("/Bulk", json={"schemas": [BULK], "Operations": operations, **extra})


def create(bulk_id: str, email: str, name: str, unit: str = "dinkes") -> dict[str, Any]:
    return {"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": asn(email, name, unit)}


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


def test_bulk_is_advertised(dinkes: httpx.Client) -> None:
    config = dinkes.get("/ServiceProviderConfig").json()["bulk"]
    assert config == {"supported": True, "maxOperations": 100, "maxPayloadSize": 1048576}


def test_bulk_with_references_in_any_order(hub: Hub, dinkes: httpx.Client) -> None:
    """The group is listed before the users it names: it waits for them (§3.7.2)."""
    answer = bulk(
        dinkes,
        [
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "perawat",
                "data": {
                    "schemas": [GROUP],
                    "displayName": "dinkes/perawat",
                    "members": [{"value": "bulkId:ani"}, {"value": "bulkId:budi"}],
                },
            },
            create("ani", "ani@dinkes.example.id", "Ani"),
            create("budi", "budi@dinkes.example.id", "Budi", "puskesmas-ilir"),
            {
                "method": "PATCH",
                "path": "/Users/bulkId:budi",
                "data": {
                    "schemas": [PATCH],
                    "Operations": [{"op": "replace", "path": "displayName", "value": "Budi S."}],
                },
            },
        ],
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"]
    results = answer.json()["Operations"]
    assert [(r.get("bulkId"), r["status"]) for r in results] == [
        ("ani", "201"),
        ("budi", "201"),
        ("perawat", "201"),
        (None, "200"),
    ]
    ids = {r["bulkId"]: r["location"].rsplit("/", 1)[1] for r in results if r.get("bulkId") in ("ani", "budi")}
    group = dinkes.get("/Groups/dinkes:perawat").json()
    assert {m["value"] for m in group["members"]} == set(ids.values())
    assert dinkes.get(f"/Users/{ids['budi']}").json()["displayName"] == "Budi S."
    assert all(r.get("version") for r in results)
    # each operation was audited as its single request is, with the client as actor; one summary for the bulk
    actions = [(e.actor, e.action) for e in audit(hub, "scim.")]
    assert [a for _, a in actions] == [
        "scim.user.create",
        "scim.user.create",
        "scim.group.create",
        "scim.user.patch",
        "scim.bulk",
    ]
    assert len({actor for actor, _ in actions}) == 1 and actions[0][0].startswith("client:")


def test_each_operation_is_atomic_and_fail_on_errors_stops_the_rest(hub: Hub, dinkes: httpx.Client) -> None:
    answer = bulk(
        dinkes,
        [
            create("ok1", "citra@dinkes.example.id", "Citra"),
            create("dup", "citra@dinkes.example.id", "Citra lagi"),  # 409: uniqueness
            create("outside", "rina@bapenda.example.id", "Rina", "bapenda"),  # not this client's subtree
            create("never", "dedi@dinkes.example.id", "Dedi"),  # not run: failOnErrors reached
        ],
        failOnErrors=2,
    )
    assert answer.status_code == 200, answer.text
    results = answer.json()["Operations"]
    assert [(r["bulkId"], r["status"]) for r in results] == [("ok1", "201"), ("dup", "409"), ("outside", "400")]
    assert results[1]["response"]["scimType"] == "uniqueness"
    assert results[1]["response"]["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    names = [r["userName"] for r in dinkes.get("/Users").json()["Resources"]]
    assert names == ["citra@dinkes.example.id"]  # nothing half-made by the failed ones, Dedi never created
    summary = audit(hub, "scim.bulk")[-1]
    assert summary.detail["operations"] == 4 and summary.detail["run"] == 3 and summary.detail["failed"] == 2


@pytest.mark.parametrize(
    "operations,reason",
    [
        (
            [
                {
                    "method": "PATCH",
                    "path": "/Users/bulkId:nobody",
                    "data": {
                        "schemas": [PATCH],
                        "Operations": [{"op": "replace", "path": "displayName", "value": "x"}],
                    },
                }
            ],
            "unknown",
        ),
        (
            [
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "g1",
                    "data": {"schemas": [GROUP], "displayName": "dinkes/bidan", "members": [{"value": "bulkId:g2"}]},
                },
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "g2",
                    "data": {"schemas": [GROUP], "displayName": "dinkes/dokter", "members": [{"value": "bulkId:g1"}]},
                },
            ],
            "circular",
        ),
    ],
)
def test_unresolvable_references_fail_without_running(
    dinkes: httpx.Client, operations: list[dict[str, Any]], reason: str
) -> None:
    results = bulk(dinkes, operations).json()["Operations"]
    assert all(r["status"] == "409" for r in results), results
    assert dinkes.get("/Groups").json()["totalResults"] == 0


def test_a_reference_to_a_failed_operation_fails_too(dinkes: httpx.Client) -> None:
    results = bulk(
        dinkes,
        [
            create("bad", "not-an-email", "X", "no-such-unit"),
            {"method": "DELETE", "path": "/Users/bulkId:bad"},
        ],
    ).json()["Operations"]
    assert int(results[0]["status"]) >= 400 and results[1]["status"] == "409"


def test_limits_and_malformed_requests_are_refused_whole(dinkes: httpx.Client) -> None:
    too_many = [create(f"u{i}", f"u{i}@dinkes.example.id", f"U{i}") for i in range(101)]
    assert bulk(dinkes, too_many).status_code == 413
    huge = dinkes.post(
        "/Bulk",
        content=json.dumps(
            {"schemas": [BULK], "Operations": [create("h", "h@dinkes.example.id", "H" * 1_100_000)]}
        ).encode(),
    )
    assert huge.status_code == 413
    for body in (
        {"Operations": [create("a", "a@dinkes.example.id", "A")]},  # no schema
        {"schemas": [BULK], "Operations": []},
        {"schemas": [BULK], "Operations": [{"method": "GET", "path": "/Users"}]},
        {"schemas": [BULK], "Operations": [{"method": "POST", "path": "/Users", "data": asn("b@x.id", "B")}]},
        {
            "schemas": [BULK],
            "Operations": [create("a", "a@dinkes.example.id", "A"), create("a", "c@dinkes.example.id", "C")],
        },
        {"schemas": [BULK], "failOnErrors": 0, "Operations": [create("a", "a@dinkes.example.id", "A")]},
        {"schemas": [BULK], "Operations": [{"method": "PUT", "path": "/Users/x", "data": "no"}]},
        {"schemas": [BULK], "Operations": ["not an object"]},
        [1, 2],
    ):
        refused = dinkes.post("/Bulk", content=json.dumps(body).encode())
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert dinkes.get("/Users").json()["totalResults"] == 0
    odd_path = bulk(
        dinkes,
        [
            {"method": "DELETE", "path": "/Schemas/x"},
            {"method": "POST", "path": "/Users/abc", "bulkId": "p", "data": {}},
        ],
    ).json()
    assert [r["status"] for r in odd_path["Operations"]] == ["400", "400"]


def test_bulk_needs_the_scim_token(hub: Hub) -> None:
    answer = httpx.post(f"{hub.url}/scim/v2/Bulk", json={"schemas": [BULK], "Operations": []})
    assert answer.status_code == 401


def test_deprovisioning_through_bulk_is_as_immediate(hub: Hub, dinkes: httpx.Client) -> None:
    created = bulk(dinkes, [create("eka", "eka@dinkes.example.id", "Eka")]).json()["Operations"][0]
    user_id = created["location"].rsplit("/", 1)[1]
    deactivate = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    results = bulk(
        dinkes,
        [
            {"method": "PATCH", "path": f"/Users/{user_id}", "version": created["version"], "data": deactivate},
            {"method": "DELETE", "path": f"/Users/{user_id}", "version": created["version"]},
        ],
    ).json()["Operations"]
    assert results[0]["status"] == "200" and dinkes.get(f"/Users/{user_id}").json()["active"] is False
    assert results[1]["status"] == "412"  # the version the DELETE named is no longer current
    assert "scim.user.patch" in [e.action for e in audit(hub, "scim.user.")]
    assert ENTERPRISE in dinkes.get(f"/Users/{user_id}").json()
