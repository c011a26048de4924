"""The console's edit pages: change or remove an app, a client or an OPD unit, rotate a client's secret, and
change a user's name or email.

Each form posts to the same services the CLI and the admin API call (``gateway.app_edits``,
``idp.client_edits``, ``idp.org_edits``), which write the audit entry with a diff. Destructive actions — remove,
rotate a secret — go through a confirmation page: the operator types the name of what goes (a slip of the mouse
removes nothing), and the server refuses the action without it. Only Kominfo administrators change apps,
clients and units; users are changed by whoever manages them (``accounts.load_managed_user``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.admin.accounts import load_managed_user
from gateway.admin.actor import Actor, check_kominfo
from gateway.admin.bodies import ClientSecurityRequest
from gateway.admin.client_review import client_security_json, set_client_security
from gateway.admin.registration import app_json
from gateway.app_edits import load_app, remove_app, update_app
from gateway.claims import CLAIMS
from gateway.errors import BadRequest, NotFound
from idp.account_edits import update_user
from idp.client_edits import client_view, remove_client, rotate_client_secret, update_client
from idp.clients import ID_TOKEN_ALGS, load_client
from idp.org import KINDS, load_opd, load_opd_name
from idp.org_edits import move_opd, parent_slug, remove_opd, update_opd
from idp.upstream_addresses import UpstreamAddresses

if TYPE_CHECKING:
    from gateway.admin.console import Console

KINDS_REMOVABLE = {"aplikasi": "app", "klien": "client", "opd": "opd"}
BACK = {"app": "/admin/aplikasi", "client": "/admin/klien", "opd": "/admin/opd"}


def lines(text: str | None) -> list[str]:
    """A textarea with one value per line; blank lines dropped."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class EditPages:
    def __init__(
        self, console: Console, issuer: str, addresses: UpstreamAddresses | None = None, apps_domain: str = ""
    ) -> None:
        self._addresses, self._apps_domain = addresses, apps_domain
        self._console = console
        self._issuer = issuer

    def routes(self) -> list[Route]:
        return [
            Route("/admin/ubah/aplikasi/{slug}", self.app_form),
            Route("/admin/aksi/ubah/aplikasi/{slug}", self.app_save, methods=["POST"]),
            Route("/admin/ubah/klien/{client_id}", self.client_form),
            Route("/admin/aksi/ubah/klien/{client_id}", self.client_save, methods=["POST"]),
            Route("/admin/aksi/rahasia/klien/{client_id}", self.client_rotate, methods=["POST"]),
            Route("/admin/aksi/keamanan/klien/{client_id}", self.client_security, methods=["POST"]),
            Route("/admin/ubah/opd/{slug}", self.opd_form),
            Route("/admin/aksi/ubah/opd/{slug}", self.opd_save, methods=["POST"]),
            Route("/admin/ubah/pengguna/{id}", self.user_form),
            Route("/admin/aksi/ubah/pengguna/{id}", self.user_save, methods=["POST"]),
            Route("/admin/hapus/{kind}/{key}", self.confirm_form),
            Route("/admin/aksi/hapus/{kind}/{key}", self.remove, methods=["POST"]),
        ]

    # --- apps --------------------------------------------------------------------------------------------------
    async def app_form(self, request: Request) -> Response:
        slug = request.path_params["slug"]

        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            check_kominfo(actor)
            app, unit = await load_app(session, slug)
            return {
                "app": app_json(app, unit, self._issuer, apps_domain=self._apps_domain),
                "kind": "app",
                "all_claims": CLAIMS,
            }

        return await self._console.page(request, "edit_app.html", load)

    async def app_save(self, request: Request) -> Response:
        slug = request.path_params["slug"]

        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            check_kominfo(actor)
            changes = {
                "name": form.get("name", ""),
                "upstreams": lines(form.get("upstreams")),
                "auth_mode": form.get("auth_mode", ""),
                "hosts": lines(form.get("hosts")),
                "client_id": form.get("client_id") or None,
                "restricted": form.get("restricted") == "on",
                **({"integrity": form["integrity"]} if form.get("integrity") else {}),
            }
            if form.get("claims_form") == "1":  # the form showed the claims (unchecked boxes are not sent)
                changes["claims"] = [claim for claim in CLAIMS if form.get(f"claim_{claim}") == "on"]
            _, diff = await update_app(
                session,
                slug,
                changes,
                issuer=self._issuer,
                actor=actor.sub,
                now=now,
                addresses=self._addresses,
                apps_domain=self._apps_domain,
                profiles=self._console.profiles,
            )
            return {
                "title_key": "done.edited" if diff else "done.unchanged",
                "args": {"name": slug},
                "changes": diff,
                "back": "/admin/aplikasi",
            }

        return await self._console.action(request, act)

    # --- clients -----------------------------------------------------------------------------------------------
    async def client_form(self, request: Request) -> Response:
        client_id = request.path_params["client_id"]

        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            check_kominfo(actor)
            client = await load_client(session, client_id)
            return {
                "client": {
                    "client_id": client_id,
                    "auth_method": client.auth_method,
                    **await client_view(session, client),
                },
                "kind": "client",
                "security": client_security_json(client),
                "id_token_algs": ID_TOKEN_ALGS,
            }

        return await self._console.page(request, "edit_client.html", load)

    async def client_save(self, request: Request) -> Response:
        client_id = request.path_params["client_id"]

        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            check_kominfo(actor)
            changes = {
                "name": form.get("name", ""),
                "redirect_uris": lines(form.get("redirect_uris")),
                "post_logout_redirect_uris": lines(form.get("post_logout_redirect_uris")),
                "scope": form.get("scope", ""),
                "resources": lines(form.get("resources")),
                "backchannel_logout_uri": form.get("backchannel_logout_uri") or None,
            }
            _, diff = await update_client(
                session, client_id, changes, actor=actor.sub, now=now, profiles=self._console.profiles
            )
            return {
                "title_key": "done.edited" if diff else "done.unchanged",
                "args": {"name": client_id},
                "changes": diff,
                "forget": client_id,
                "back": "/admin/klien",
            }

        return await self._console.action(request, act)

    async def client_rotate(self, request: Request) -> Response:
        client_id = request.path_params["client_id"]

        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            check_kominfo(actor)
            _check_typed(form, client_id)
            minutes = form.get("grace_minutes", "15")
            if not minutes.isdigit():
                raise BadRequest("the grace period is a whole number of minutes")
            secret, _ = await rotate_client_secret(
                session, client_id, grace_seconds=int(minutes) * 60, actor=actor.sub, now=now
            )
            return {
                "title_key": "done.secret_rotated",
                "args": {"client_id": client_id, "minutes": minutes},
                "client_id": client_id,
                "client_secret": secret,
                "forget": client_id,
                "back": "/admin/klien",
            }

        return await self._console.action(request, act)

    async def client_security(self, request: Request) -> Response:
        """FAPI 2.0 profile, PAR, DPoP and ID token algorithm: the admin API's rules (``client_review``)."""
        client_id = request.path_params["client_id"]

        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            try:
                body = ClientSecurityRequest(
                    profile=form.get("profile") or None,
                    require_pushed_authorization_requests=form.get("require_par") == "on",
                    dpop_bound_access_tokens=form.get("dpop_bound") == "on",
                    id_token_signed_response_alg=form.get("id_token_alg") or None,
                )
            except ValidationError as exc:
                raise BadRequest("choose a profile and an ID token algorithm from the lists") from exc
            before = client_security_json(await load_client(session, client_id))
            after = await set_client_security(session, actor, client_id, body, now, self._console.profiles)
            diff = {
                name: {"from": before[name], "to": value} for name, value in after.items() if before.get(name) != value
            }
            return {
                "title_key": "done.edited" if diff else "done.unchanged",
                "args": {"name": client_id},
                "changes": diff,
                "forget": client_id,
                "back": f"/admin/ubah/klien/{client_id}",
            }

        return await self._console.action(request, act)

    # --- OPD units ---------------------------------------------------------------------------------------------
    async def opd_form(self, request: Request) -> Response:
        slug = request.path_params["slug"]

        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            check_kominfo(actor)
            unit = await load_opd(session, slug)
            return {
                "unit": {
                    "slug": unit.slug,
                    "name": unit.name,
                    "kind": unit.kind,
                    "parent": await parent_slug(session, unit) or "",
                },
                "kinds": KINDS,
                "kind": "opd",
            }

        return await self._console.page(request, "edit_opd.html", load)

    async def opd_save(self, request: Request) -> Response:
        slug = request.path_params["slug"]

        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            check_kominfo(actor)
            _, diff = await update_opd(
                session, slug, name=form.get("name", ""), kind=form.get("kind", ""), actor=actor.sub, now=now
            )
            parent = form.get("parent") or None
            unit = await load_opd(session, slug)
            if parent != await parent_slug(session, unit):
                _, moved = await move_opd(session, slug, parent, actor=actor.sub, now=now)
                diff = {**diff, **moved}
            return {
                "title_key": "done.edited" if diff else "done.unchanged",
                "args": {"name": slug},
                "changes": diff,
                "back": "/admin/opd",
            }

        return await self._console.action(request, act)

    # --- users (Kominfo, or an OPD admin for users wholly in their subtree) ------------------------------------
    async def user_form(self, request: Request) -> Response:
        user_id = request.path_params["id"]

        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            user, _ = await load_managed_user(session, actor, user_id)
            return {"user": {"id": user.id, "name": user.name, "email": user.email}, "kind": "user"}

        return await self._console.page(request, "edit_user.html", load)

    async def user_save(self, request: Request) -> Response:
        user_id = request.path_params["id"]

        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            user, _ = await load_managed_user(session, actor, user_id)
            diff = await update_user(
                session, user, name=form.get("name", ""), email=form.get("email", ""), actor=actor.sub, now=now
            )
            return {
                "title_key": "done.edited" if diff else "done.unchanged",
                "args": {"name": user.email},
                "changes": diff,
                "back": "/admin/pengguna",
            }

        return await self._console.action(request, act)

    # --- removal, confirmed ------------------------------------------------------------------------------------
    async def confirm_form(self, request: Request) -> Response:
        kind, key = _removable(request)

        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            check_kominfo(actor)
            name = await _name_of(session, kind, key)
            return {"kind": kind, "key": key, "name": name, "path_kind": request.path_params["kind"]}

        return await self._console.page(request, "confirm.html", load)

    async def remove(self, request: Request) -> Response:
        kind, key = _removable(request)

        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            check_kominfo(actor)
            _check_typed(form, key)
            if kind == "app":
                await remove_app(session, key, actor=actor.sub, now=now)
            elif kind == "client":
                await remove_client(session, key, actor=actor.sub, now=now)
            else:
                await remove_opd(session, key, actor=actor.sub, now=now)
            result: dict[str, Any] = {"title_key": "done.removed", "args": {"name": key}, "back": BACK[kind]}
            if kind == "client":
                result["forget"] = key
            return result

        return await self._console.action(request, act)


def _removable(request: Request) -> tuple[str, str]:
    kind = KINDS_REMOVABLE.get(request.path_params["kind"])
    if kind is None:
        raise NotFound("there is nothing of that kind to remove")
    return kind, request.path_params["key"]


def _check_typed(form: dict[str, str], key: str) -> None:
    """The confirmation: the operator typed the name of what the action touches."""
    if form.get("confirm", "").strip() != key:
        raise BadRequest(f"type '{key}' to confirm")


async def _name_of(session: AsyncSession, kind: str, key: str) -> str:
    if kind == "app":
        app, _ = await load_app(session, key)
        return app.name
    if kind == "client":
        return (await load_client(session, key)).name
    name = await load_opd_name(session, key)
    if name is None:
        raise NotFound(f"OPD '{key}' does not exist")
    return name
