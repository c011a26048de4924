"""Seed the demo city from the city file (``palembang.yaml``, a copy of the shared reference data) through the same
plan-and-apply code as ``gerbang apply``: the OPD tree, the sample apps, their clients and the staff roles; then
the demo's logins (passwords are never in a city file)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.apps import default_app_resource
from gateway.city_config.apply import ApplyContext, apply_plan
from gateway.city_config.document import AppEntry, CityConfig, ClientEntry, OpdEntry, UserEntry
from gateway.city_config.plan import build_plan
from gateway.city_config.state import read_state
from idp.accounts import add_user
from idp.passwords import hash_sync
from idp.profile_rule import ProfileGuard
from idp.storage.models import User
from idp.upstream_addresses import UpstreamAddresses

KECAMATAN_IN_DEMO = 4
KELURAHAN_PER_KECAMATAN = 3
PORTAL_CLIENT = "portal-warga"


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    password: str
    nik: str | None = None
    opd: str | None = None
    roles: tuple[str, ...] = ()


PEOPLE = (
    Person("siti@warga.palembang.go.id", "Siti Aminah", "warga-palembang-2026", nik="1671015203950002"),
    Person("budi@dishub.palembang.go.id", "Budi Santoso", "asn-dishub-2026", opd="dishub", roles=("operator",)),
    Person(
        "admin@kominfo.palembang.go.id",
        "Admin Kominfo",
        "kominfo-admin-2026",
        opd="diskominfo",
        roles=("kominfo-admin",),
    ),
)


@dataclass
class SeedResult:
    people: tuple[Person, ...] = PEOPLE
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    opd_count: int = 0


def reference_data() -> dict[str, Any]:
    text = resources.files("gateway.demo").joinpath("palembang.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def demo_city(
    data: dict[str, Any],
    *,
    issuer: str,
    rp_base: str,
    upstreams: dict[str, str],
    bapenda_jwks: dict[str, Any],
    apps_domain: str = "",
) -> CityConfig:
    """The demo city as a configuration document (what ``gerbang apply`` reads), built from the city file: the
    OPD tree from its units and kecamatan (``KELURAHAN_PER_KECAMATAN`` generated kelurahan each, for the first
    ``KECAMATAN_IN_DEMO``), the sample apps on the demo's loopback ports, their clients and the staff roles.
    ``bapenda_jwks``: the public keys Bapenda's integration signs its client assertions with."""
    city = data["city"]
    opd = [OpdEntry(slug=city["slug"], name=city["name"], kind="kota", parent=None)]
    opd += [
        OpdEntry(slug=unit["slug"], name=unit["name"], kind=unit["kind"], parent=city["slug"]) for unit in data["opd"]
    ]
    for name in data["kecamatan"][:KECAMATAN_IN_DEMO]:
        slug = f"kec-{slugify(name)}"
        opd.append(OpdEntry(slug=slug, name=f"Kecamatan {name}", kind="kecamatan", parent=city["slug"]))
        opd += [
            OpdEntry(slug=f"{slug}-kel-{index}", name=f"Kelurahan {index} {name}", kind="kelurahan", parent=slug)
            for index in range(1, KELURAHAN_PER_KECAMATAN + 1)
        ]
    clients = [
        ClientEntry(
            client_id=PORTAL_CLIENT,
            name="Portal Warga Palembang (demo)",
            opd="diskominfo",
            redirect_uris=[f"{rp_base}/callback"],
            post_logout_redirect_uris=[f"{rp_base}/"],
            scope="openid profile email opd",
        ),
        # The client id and scope the shipped policy set allows on e-budgeting's /api/ (rule
        # e-budgeting-bpkad-integration). e-budgeting is restricted, so the shipped rule fapi2-for-restricted-apps
        # binds its clients to FAPI 2.0: private_key_jwt and DPoP-bound tokens.
        ClientEntry(
            client_id="bapenda-pajak",
            name="Integrasi Bapenda → E-Budgeting",
            opd="bapenda",
            grant_types=["client_credentials"],
            scope="budget.read",
            resources=[default_app_resource(issuer, "e-budgeting", apps_domain)],
            auth_method="private_key_jwt",
            jwks=bapenda_jwks,
            profile="fapi2",
            require_par=True,
            dpop_bound=True,
        ),
    ]
    apps = [
        AppEntry(
            slug="parkir", name="Parkir Dishub", opd="dishub", upstreams=[upstreams["parkir"]], auth_mode="session"
        ),
        AppEntry(slug="cctv", name="CCTV Dishub", opd="dishub", upstreams=[upstreams["cctv"]], auth_mode="session"),
        # every request to e-budgeting is signed and leaves a receipt (docs/integrity.md)
        AppEntry(
            slug="e-budgeting",
            name="E-Budgeting BPKAD",
            opd="bpkad",
            upstreams=[upstreams["e-budgeting"]],
            auth_mode="bearer",
            require_dpop=True,  # "cannot be tampered with": a stolen token is useless without its key
            integrity="ledger",
        ),
    ]
    staff = [
        UserEntry(email=p.email, name=p.name, roles=[f"{role}@{p.opd}" for role in p.roles]) for p in PEOPLE if p.opd
    ]
    return CityConfig(opd=opd, clients=clients, apps=apps, users=staff)


async def seed_demo(
    session: AsyncSession,
    *,
    issuer: str,
    rp_base: str,
    upstreams: dict[str, str],
    profiles: ProfileGuard,
    bapenda_jwks: dict[str, Any],
    addresses: UpstreamAddresses | None = None,
    apps_domain: str = "",
) -> SeedResult:
    """Apply the demo city (``demo_city``) as ``gerbang apply`` would (under Kominfo's profile rule,
    ``profiles``), then what a city file never holds: the demo's passwords and the citizen."""
    now = int(time.time())
    desired = demo_city(
        reference_data(),
        issuer=issuer,
        rp_base=rp_base,
        upstreams=upstreams,
        bapenda_jwks=bapenda_jwks,
        apps_domain=apps_domain,
    )
    context = ApplyContext(
        issuer=issuer, actor="gerbang-demo", now=now, profiles=profiles, addresses=addresses, apps_domain=apps_domain
    )
    await apply_plan(session, build_plan(desired, await read_state(session)), context)
    for person in PEOPLE:
        user = await session.scalar(select(User).where(User.email == person.email))
        if user is None:
            user = await add_user(
                session, email=person.email, name=person.name, nik=person.nik, password_hash=None, now=now
            )
        user.password_hash = hash_sync(person.password)
    result = SeedResult(opd_count=len(desired.opd))
    result.clients["portal"] = {"client_id": PORTAL_CLIENT, "client_secret": context.secrets[PORTAL_CLIENT]}
    result.clients["bapenda"] = {"client_id": "bapenda-pajak"}  # private_key_jwt: no secret
    return result
