"""The demo city is seeded from the city file through the apply code (both backends): the OPD tree is the file's,
the seeded state is what a second plan of the same document leaves unchanged, and the demo's logins work."""

from __future__ import annotations

import asyncio

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.city_config.plan import build_plan
from gateway.city_config.state import read_state
from gateway.demo.seed import KECAMATAN_IN_DEMO, KELURAHAN_PER_KECAMATAN, PEOPLE, demo_city, reference_data, seed_demo
from idp.dpop.client import public_jwk
from idp.passwords import HASHER
from idp.profile_rule import ProfileGuard
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.gateway_models import App
from idp.storage.models import AuditEntry, Client, OpdUnit, User
from policies import DEFAULT_POLICY_DIR, load_policy_dir
from tests.support.hub import TEST_UPSTREAM_ADDRESSES
from tests.support.records import rows

ISSUER = "http://127.0.0.1:8000"
BAPENDA_JWKS = {"keys": [public_jwk(ec.generate_private_key(ec.SECP256R1()))]}
UPSTREAMS = {"parkir": "http://127.0.0.1:8002", "cctv": "http://127.0.0.1:8003", "e-budgeting": "http://127.0.0.1:8004"}


def test_the_demo_city_comes_from_the_city_file_through_apply(database_url: str) -> None:
    data = reference_data()

    async def run() -> tuple[object, list[object]]:
        engine = build_engine(database_url)
        try:
            maker = build_sessionmaker(engine)
            async with maker() as session, session.begin():
                seeded = await seed_demo(
                    session,
                    issuer=ISSUER,
                    rp_base="http://127.0.0.1:8001",
                    upstreams=UPSTREAMS,
                    profiles=ProfileGuard(lambda: load_policy_dir(DEFAULT_POLICY_DIR), ISSUER, ""),
                    bapenda_jwks=BAPENDA_JWKS,
                    addresses=TEST_UPSTREAM_ADDRESSES,
                )
            async with maker() as session:
                desired = demo_city(
                    data,
                    issuer=ISSUER,
                    rp_base="http://127.0.0.1:8001",
                    upstreams=UPSTREAMS,
                    bapenda_jwks=BAPENDA_JWKS,
                )
                again = build_plan(desired, await read_state(session))
            return seeded, again
        finally:
            await engine.dispose()

    seeded, again = asyncio.run(run())
    assert again == []  # what was seeded is exactly the document: applying it again changes nothing
    units = {unit.slug: unit for unit in rows(database_url, OpdUnit)}
    assert {unit["slug"] for unit in data["opd"]} | {data["city"]["slug"]} <= set(units)
    assert len(units) == seeded.opd_count == 1 + len(data["opd"]) + KECAMATAN_IN_DEMO * (1 + KELURAHAN_PER_KECAMATAN)
    assert units["disdukcapil"].name == "Dinas Kependudukan dan Pencatatan Sipil"  # the file's name, not a copy
    apps = {app.slug: app for app in rows(database_url, App)}
    assert set(apps) == {"parkir", "cctv", "e-budgeting"} and apps["e-budgeting"].require_dpop
    for person in PEOPLE:
        [user] = rows(database_url, User, User.email == person.email)
        assert user.password_hash and HASHER.verify(user.password_hash, person.password)
    assert seeded.clients["portal"]["client_id"] == "portal-warga" and seeded.clients["portal"]["client_secret"]
    # e-budgeting is restricted in the shipped policy set: its integration follows FAPI 2.0 (no secret at all)
    [bapenda] = rows(database_url, Client, Client.client_id == "bapenda-pajak")
    assert (bapenda.profile, bapenda.auth_method, bapenda.secret_digest) == ("fapi2", "private_key_jwt", None)
    actions = {entry.action for entry in rows(database_url, AuditEntry)}
    assert {"opd.create", "client.create", "app.create"} <= actions  # audited like every apply
