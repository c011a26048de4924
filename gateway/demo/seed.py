"""Seed the demo city from the reference data: the OPD tree, people, and the demo relying party."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.apps import add_app, default_app_resource
from idp.upstream_addresses import UpstreamAddresses
from idp.accounts import add_user
from idp.clients import add_client
from idp.org import add_opd
from idp.passwords import hash_sync

KECAMATAN_IN_DEMO = 4
KELURAHAN_PER_KECAMATAN = 3


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
    Person("admin@kominfo.palembang.go.id", "Admin Kominfo", "kominfo-admin-2026", opd="diskominfo",
           roles=("kominfo-admin",)),
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


async def seed_city(session: AsyncSession, rp_redirect_uri: str, rp_logout_uri: str) -> SeedResult:
    now = int(time.time())
    data = reference_data()
    result = SeedResult()
    city = data["city"]
    await add_opd(session, city["slug"], city["name"], "kota", None, now)
    for unit in data["opd"]:
        await add_opd(session, unit["slug"], unit["name"], unit["kind"], city["slug"], now)
    count = 1 + len(data["opd"])
    for name in data["kecamatan"][:KECAMATAN_IN_DEMO]:
        slug = f"kec-{slugify(name)}"
        await add_opd(session, slug, f"Kecamatan {name}", "kecamatan", city["slug"], now)
        for index in range(1, KELURAHAN_PER_KECAMATAN + 1):
            await add_opd(session, f"{slug}-kel-{index}", f"Kelurahan {index} {name}", "kelurahan", slug, now)
        count += 1 + KELURAHAN_PER_KECAMATAN
    result.opd_count = count
    for person in PEOPLE:
        await add_user(session, email=person.email, name=person.name, nik=person.nik, opd_slug=person.opd,
                       roles=person.roles, password_hash=hash_sync(person.password), now=now)
    client, secret = await add_client(session, name="Portal Warga Palembang (demo)", opd_slug="diskominfo",
                                      redirect_uris=(rp_redirect_uri,), post_logout_redirect_uris=(rp_logout_uri,),
                                      scope="openid profile email opd", now=now)
    result.clients["portal"] = {"client_id": client.client_id, "client_secret": secret}
    return result


async def register_demo_apps(session: AsyncSession, issuer: str, upstreams: dict[str, str],
                             result: SeedResult, addresses: UpstreamAddresses | None = None, *,
                             apps_domain: str = "") -> None:
    """The three sample OPD apps behind the gateway, and Bapenda's integration client for e-budgeting.

    ``addresses``: the demo's upstreams run on loopback, which its settings allow."""
    now = int(time.time())
    await add_app(session, slug="parkir", name="Parkir Dishub", opd_slug="dishub", upstreams=(upstreams["parkir"],),
                  auth_mode="session", issuer=issuer, now=now, addresses=addresses, apps_domain=apps_domain)
    await add_app(session, slug="cctv", name="CCTV Dishub", opd_slug="dishub", upstreams=(upstreams["cctv"],),
                  auth_mode="session", issuer=issuer, now=now, addresses=addresses, apps_domain=apps_domain)
    await add_app(session, slug="e-budgeting", name="E-Budgeting BPKAD", opd_slug="bpkad",
                  upstreams=(upstreams["e-budgeting"],), auth_mode="bearer", issuer=issuer, now=now,
                  addresses=addresses, apps_domain=apps_domain,
                  require_dpop=True,  # "cannot be tampered with": a stolen token is useless without its key
                  integrity="ledger")  # ... and every request is signed and leaves a receipt (docs/integrity.md)
    # The client id and scope the shipped policy set allows on e-budgeting's /api/ (rule e-budgeting-bpkad-integration).
    client, secret = await add_client(session, name="Integrasi Bapenda → E-Budgeting", opd_slug="bapenda",
                                      client_id="bapenda-pajak", grant_types=("client_credentials",),
                                      scope="budget.read",
                                      resources=(default_app_resource(issuer, "e-budgeting", apps_domain),),
                                      now=now)
    result.clients["bapenda"] = {"client_id": client.client_id, "client_secret": secret}
