"""The console's page of upstream identity providers (``/admin/penyedia-identitas``): Kominfo sees each upstream
(issuer, client authentication, linking rule, acr map, who it is for) and turns it on or off; adding one and its
secrets stay with ``gerbang idps`` and the admin API (``/admin/api/idps``). The same audited workflow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.admin.actor import Actor, check_kominfo
from gateway.errors import NotFound
from idp.federation.registry import UpstreamSpec, describe, list_upstreams, update_upstream

if TYPE_CHECKING:
    from gateway.admin.console import Console
    from idp.upstream_addresses import UpstreamAddresses

ACTIONS = {"enable": True, "disable": False}


class IdpPages:
    def __init__(self, console: Console, secret: bytes, addresses: UpstreamAddresses) -> None:
        self._console = console
        self._secret = secret
        self._addresses = addresses

    def routes(self) -> list[Route]:
        return [
            Route("/admin/penyedia-identitas", self.listing),
            Route("/admin/aksi/penyedia-identitas/{slug}/{action}", self.action, methods=["POST"]),
        ]

    async def listing(self, request: Request) -> Response:
        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            check_kominfo(actor)
            return {"idps": [describe(row) for row in await list_upstreams(session)]}

        return await self._console.page(request, "idps.html", load)

    async def action(self, request: Request) -> Response:
        slug, action = request.path_params["slug"], request.path_params["action"]
        t = self._console.translate(request)

        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            check_kominfo(actor)
            if action not in ACTIONS:
                raise NotFound(t("error.unknown_action"))
            await update_upstream(
                session,
                slug,
                UpstreamSpec(enabled=ACTIONS[action]),
                secret=self._secret,
                actor=actor.sub,
                now=now,
                addresses=self._addresses,
            )
            return {"title_key": f"done.idp.{action}", "args": {"slug": slug}, "back": "/admin/penyedia-identitas"}

        return await self._console.action(request, act)
