"""Kominfo's administrators on a real hub: seeded roles, and access tokens for the admin API got the real way
(authorization code + PKCE through the provider's login page, with the console's first-party client)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx
from sqlalchemy import func, select, update

from gateway.admin.console_client import CONSOLE_CLIENT_ID, CONSOLE_SCOPE, console_client_secret
from gateway.admin.http import admin_resource
from idp.accounts import add_user
from idp.org import add_opd
from idp.passwords import hash_sync
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import Client, OpdUnit, Passkey, RecoveryCode, User
from tests.support.hub import PASSWORD, Browser, Hub, authorize_url, csrf_from, interaction_from, pkce_pair, query_of

KOMINFO = "admin@kominfo.example.id"
DISHUB_ADMIN = "admin@dishub.example.id"
BPKAD_ADMIN = "admin@bpkad.example.id"
DISHUB_OPERATOR = "asn@dishub.example.id"  # seeded by tests.support.hub with the operator role
BPKAD_OPERATOR = "operator@bpkad.example.id"
UPT_ASN = "asn@upt-parkir.example.id"


@dataclass
class AdminCity:
    users: dict[str, str] = field(default_factory=dict)  # email -> user id


async def seed_admins(database_url: str, existing: dict[str, str]) -> AdminCity:
    """diskominfo and a UPT under dishub, and one administrator or operator per role."""
    engine = build_engine(database_url)
    city = AdminCity(dict(existing))
    now = int(time.time())
    password_hash = hash_sync(PASSWORD)
    async with build_sessionmaker(engine)() as session, session.begin():
        await add_opd(session, "diskominfo", "Dinas Komunikasi dan Informatika", "dinas", "kota-palembang", now)
        await add_opd(session, "upt-parkir", "UPT Parkir", "uptd", "dishub", now)
        for email, opd, roles in [
            (KOMINFO, "diskominfo", ("kominfo-admin",)),
            (DISHUB_ADMIN, "dishub", ("opd-admin",)),
            (BPKAD_ADMIN, "bpkad", ("opd-admin",)),
            (BPKAD_OPERATOR, "bpkad", ("operator",)),
            (UPT_ASN, "upt-parkir", ("asn",)),
        ]:
            user = await add_user(
                session,
                email=email,
                name=email.split("@")[0],
                password_hash=password_hash,
                now=now,
                opd_slug=opd,
                roles=roles,
            )
            city.users[email] = user.id
    await engine.dispose()
    return city


def admin_token(hub: Hub, email: str) -> str:
    """Sign in as ``email`` with the console client and redeem the code for an admin API token."""
    verifier, challenge = pkce_pair()
    redirect = f"{hub.url}/admin/callback"
    browser = Browser(hub)
    try:
        page = browser.go(
            authorize_url(
                CONSOLE_CLIENT_ID,
                challenge,
                redirect_uri=redirect,
                scope=CONSOLE_SCOPE,
                resource=admin_resource(hub.url),
            )
        )
        assert page.status_code == 200, page.text
        response = browser.http.post(
            "/auth/login",
            data={
                "login": email,
                "password": PASSWORD,
                "interaction": interaction_from(str(page.url)),
                "csrf_token": csrf_from(page.text),
            },
        )
        while response.status_code in (302, 303) and not response.headers["location"].startswith(redirect):
            response = browser.http.get(urljoin(hub.url, response.headers["location"]))
        assert response.status_code in (302, 303), response.text
        code = query_of(response.headers["location"])["code"]
    finally:
        browser.close()
    token = httpx.post(
        f"{hub.url}/auth/token",
        auth=(CONSOLE_CLIENT_ID, console_client_secret(hub.settings.effective_secret)),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "code_verifier": verifier},
    )
    assert token.status_code == 200, token.text
    return str(token.json()["access_token"])


class AdminClient:
    """The admin API as one administrator sees it."""

    def __init__(self, hub: Hub, token: str) -> None:
        self.http = httpx.Client(
            base_url=f"{hub.url}/admin/api", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params)

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.http.post(path, json=body) if body is not None else self.http.post(path)

    def delete(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.request("DELETE", path, json=body)

    def close(self) -> None:
        self.http.close()


def run_seed(database_url: str, existing: dict[str, str]) -> AdminCity:
    return asyncio.run(seed_admins(database_url, existing))


async def _give_mfa(database_url: str, user_id: str) -> None:
    engine = build_engine(database_url)
    now = int(time.time())
    async with build_sessionmaker(engine)() as session, session.begin():
        user = await session.get(User, user_id)
        assert user is not None
        user.totp_secret, user.totp_last_step = "sealed-secret-placeholder", 1
        session.add(
            Passkey(credential_id=f"cred-{user_id}", user_id=user_id, public_key="pk", name="Ponsel", created_at=now)
        )
        session.add_all(RecoveryCode(code_digest=f"{user_id}-{n}", user_id=user_id, created_at=now) for n in range(3))
    await engine.dispose()


async def _mfa_of(database_url: str, user_id: str) -> tuple[bool, int, int]:
    engine = build_engine(database_url)
    async with build_sessionmaker(engine)() as session:
        user = await session.get(User, user_id)
        passkeys = await session.scalar(select(func.count()).where(Passkey.user_id == user_id))
        codes = await session.scalar(select(func.count()).where(RecoveryCode.user_id == user_id))
    await engine.dispose()
    assert user is not None
    return user.totp_secret is not None, int(passkeys or 0), int(codes or 0)


def give_mfa(database_url: str, user_id: str) -> None:
    """Enrol a TOTP secret, one passkey and three recovery codes for ``user_id`` directly in storage."""
    asyncio.run(_give_mfa(database_url, user_id))


def mfa_of(database_url: str, user_id: str) -> tuple[bool, int, int]:
    """(has TOTP, passkeys, recovery codes) of ``user_id``."""
    return asyncio.run(_mfa_of(database_url, user_id))


async def _add_units(database_url: str, parent_slug: str, count: int, kind: str) -> None:
    engine = build_engine(database_url)
    now = int(time.time())
    async with build_sessionmaker(engine)() as session, session.begin():
        parent = await session.scalar(select(OpdUnit).where(OpdUnit.slug == parent_slug))
        assert parent is not None
        session.add_all(
            OpdUnit(
                slug=f"{parent_slug}-{kind}-{n:03d}",
                name=f"{kind.title()} {n:03d}",
                kind=kind,
                parent_id=parent.id,
                path=f"{parent.path}{parent_slug}-{kind}-{n:03d}/",
                created_at=now,
            )
            for n in range(count)
        )
    await engine.dispose()


def add_units(database_url: str, parent_slug: str, count: int, kind: str = "kelurahan") -> None:
    """``count`` units under ``parent_slug`` in one transaction (a city-sized tree without 500 round trips)."""
    asyncio.run(_add_units(database_url, parent_slug, count, kind))


async def _set_client_status(database_url: str, client_id: str, status: str) -> None:
    engine = build_engine(database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        await session.execute(update(Client).where(Client.client_id == client_id).values(status=status))
    await engine.dispose()


def set_client_status(database_url: str, client_id: str, status: str) -> None:
    asyncio.run(_set_client_status(database_url, client_id, status))
