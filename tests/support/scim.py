"""A SCIM provisioning client of a running hub: an OAuth client with the ``scim`` scope placed in one OPD unit,
its client_credentials token for the ``/scim/v2/`` resource, and an httpx client speaking application/scim+json."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from idp.org import add_opd
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.flows import register_client
from tests.support.hub import Hub

SCIM_JSON = "application/scim+json"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def add_units(hub: Hub, units: list[tuple[str, str, str]]) -> None:
    """(slug, kind, parent) units below the seeded city."""

    async def add() -> None:
        engine = build_engine(hub.settings.effective_database_url)
        try:
            async with build_sessionmaker(engine)() as session, session.begin():
                for slug, kind, parent in units:
                    await add_opd(session, slug, slug.title(), kind, parent, int(time.time()))
        finally:
            await engine.dispose()

    asyncio.run(add())


def provisioning_client(hub: Hub, opd: str, scope: str = "scim") -> tuple[str, str]:
    client_id, secret = register_client(
        hub,
        name=f"SIMPEG {opd}",
        opd_slug=opd,
        grant_types=("client_credentials",),
        redirect_uris=(),
        scope=scope,
        resources=(f"{hub.url}/scim/v2/",),
    )
    assert secret is not None
    return client_id, secret


def scim_token(hub: Hub, client_id: str, secret: str, scope: str = "scim") -> str:
    answer = httpx.post(
        f"{hub.url}/auth/token",
        auth=(client_id, secret),
        timeout=10,
        data={"grant_type": "client_credentials", "scope": scope, "resource": f"{hub.url}/scim/v2/"},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def scim_http(hub: Hub, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{hub.url}/scim/v2",
        timeout=10,
        headers={"Authorization": f"Bearer {token}", "Content-Type": SCIM_JSON, "Accept": SCIM_JSON},
    )


def asn(email: str, name: str, unit: str | None = None, nip: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [CORE_USER, ENTERPRISE],
        "userName": email,
        "name": {"formatted": name},
        "displayName": name,
        "emails": [{"value": email, "primary": True, "type": "work"}],
        "active": True,
        **extra,
    }
    enterprise = {k: v for k, v in (("department", unit), ("employeeNumber", nip)) if v}
    if enterprise:
        body[ENTERPRISE] = enterprise
    return body


def compliance_client(http: httpx.Client, resource_models: tuple[Any, ...] = ()) -> Any:
    """scim2-client's synchronous client over our httpx client (its own engine now wants the ``httpx2`` fork)."""
    from scim2_client.client import BaseSyncSCIMClient

    class HttpxSCIMClient(BaseSyncSCIMClient):
        def __init__(self, client: httpx.Client) -> None:
            super().__init__(resource_models=resource_models or None)
            self.client = client

        def _parse_json(self, response: Any) -> Any:
            return response.json()

        def request(self, method: str, url: str, **kwargs: Any) -> Any:
            return self.client.request(method, url, **kwargs)

    return HttpxSCIMClient(http)
