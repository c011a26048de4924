"""The console's control pages: the OPD tree, OAuth clients, signing keys (rotate, revoke) and the active policies.

Each page reads through the same scoped functions as the admin API (``org_tree``, ``listings``), each action
calls the same service (``client_review``, ``idp.key_rotation``), which checks the actor and writes the audit
entry; the plumbing (sign-in, CSRF, re-authentication age, rendering) is ``Console``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.admin import client_review, listings
from gateway.admin.actor import Actor, check_kominfo
from gateway.admin.http import query_text
from gateway.admin.org_tree import load_tree_level
from gateway.errors import BadRequest, NotFound
from idp.context import IdpContext
from idp.key_rotation import revoke_signing_key, rotate_signing_key

if TYPE_CHECKING:
    from gateway.admin.console import Console

CLIENT_STATUSES = ("pending", "active", "suspended")


class ControlPages:
    def __init__(self, console: Console, context: IdpContext, forget_client: Callable[[str], None]) -> None:
        self._console = console
        self._context = context
        self.forget_client = forget_client

    def routes(self) -> list[Route]:
        return [
            Route("/admin/opd", self.opd),
            Route("/admin/klien", self.clients),
            Route("/admin/kunci", self.keys),
            Route("/admin/kebijakan", self.policies),
            Route("/admin/aksi/klien/{client_id}/{action}", self.client_action, methods=["POST"]),
            Route("/admin/aksi/kunci/rotasi", self.rotate, methods=["POST"]),
            Route("/admin/aksi/kunci/{kid}/cabut", self.revoke, methods=["POST"]),
        ]

    async def opd(self, request: Request) -> Response:
        console = self._console
        under = query_text(request, "di")
        q = query_text(request, "q")

        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            page = console.page_of(request)
            level = await load_tree_level(session, actor, page, under=under, q=q)
            units = level["units"]
            return {**level, "units": units[: page.limit], **console.pager(request, page, units), "q": q or ""}

        return await console.page(request, "opd.html", load)

    async def clients(self, request: Request) -> Response:
        console = self._console
        status, q = query_text(request, "status"), query_text(request, "q")

        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            if status is not None and status not in CLIENT_STATUSES:
                raise BadRequest(console.translate(request)("error.status"))
            page = console.page_of(request)
            found = await listings.list_clients(session, actor, page, status=status, opd=None, q=q)
            return {
                "clients": found[: page.limit],
                **console.pager(request, page, found),
                "status": status or "",
                "q": q or "",
                "statuses": CLIENT_STATUSES,
            }

        return await console.page(request, "clients.html", load)

    async def keys(self, request: Request) -> Response:
        console = self._console

        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            page = console.page_of(request)
            found = await listings.list_keys(session, actor, page, self._context.clock.now())
            return {"keys": found[: page.limit], **console.pager(request, page, found)}

        return await console.page(request, "keys.html", load)

    async def policies(self, request: Request) -> Response:
        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            current = self._context.policies.current
            return {
                "fingerprint": current.fingerprint,
                "files": [Path(s).name for s in current.sources],
                "rules": listings.describe_rules(current),
                "apps": sorted(current.apps.values(), key=lambda a: a.slug),
            }

        return await self._console.page(request, "policies.html", load)

    async def client_action(self, request: Request) -> Response:
        client_id, action = request.path_params["client_id"], request.path_params["action"]
        t = self._console.translate(request)

        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            if action not in client_review.TRANSITIONS:
                raise NotFound(t("error.unknown_action"))
            await client_review.change_client_status(session, actor, client_id, action, now)
            return {
                "title_key": f"done.client.{action}",
                "args": {"client_id": client_id},
                "forget": client_id,
                "back": "/admin/klien",
            }

        return await self._console.action(request, act)

    async def rotate(self, request: Request) -> Response:
        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            check_kominfo(actor)
            key = await rotate_signing_key(session, self._context.settings, actor=actor.sub, now=now)
            # This instance signs with the new key at once; the others on their next key refresh.
            return {
                "title_key": "done.key_rotated",
                "args": {"kid": key.kid, "alg": key.alg},
                "after": self._context.keys.load,
                "back": "/admin/kunci",
            }

        return await self._console.action(request, act)

    async def revoke(self, request: Request) -> Response:
        kid = request.path_params["kid"]

        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            check_kominfo(actor)
            replacement = await revoke_signing_key(session, self._context.settings, kid=kid, actor=actor.sub, now=now)
            # This instance stops trusting it at once; the others on their next key refresh.
            return {
                "title_key": "done.key_revoked" if replacement is None else "done.key_revoked_replaced",
                "args": {"kid": kid, "new_kid": replacement.kid if replacement else ""},
                "after": self._context.keys.load,
                "back": "/admin/kunci",
            }

        return await self._console.action(request, act)
