"""Kominfo's console under ``/admin/`` (server-rendered, Bahasa Indonesia): approval queue, apps, users, audit.

Pages call the same workflow and listing functions as the admin API, with the same ``Actor`` checks, so the
console can never do more than the API allows. Every POST needs the session's CSRF token and a console
session younger than ``admin_reauth_seconds`` (otherwise: sign in again).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway.admin import accounts, listings, registration, traffic_charts
from gateway.admin.actor import Actor, load_actor
from gateway.admin.console_auth import ConsoleAuth, SignedIn
from gateway.admin.bodies import AppSubmission
from gateway.admin.http import Page, as_gateway_error, describe_validation
from gateway.admin.traffic_view import SLUG, WINDOWS, list_visible_units, load_traffic_view
from gateway.errors import BadRequest, Forbidden, GatewayError
from idp.clock import Clock

TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html"]))
TEMPLATES.globals["nav_traffic"] = True  # base.html links /admin/lalu-lintas
PAGE = Page(limit=50, offset=0)
APP_ACTIONS = ("approve", "reject", "suspend", "resume")
USER_ACTIONS = ("disable", "enable", "end-sessions")
TRAFFIC_APPS = 30  # apps per page of the traffic view


class Console:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], auth: ConsoleAuth, issuer: str,
                 clock: Clock) -> None:
        self._sessionmaker = sessionmaker
        self._auth = auth
        self._issuer = issuer
        self._clock = clock

    def routes(self) -> list[Route]:
        return [Route("/admin/", self.home), Route("/admin/login", self._auth.login),
                Route("/admin/callback", self.callback), Route("/admin/logout", self.logout, methods=["POST"]),
                Route("/admin/antrean", self.queue), Route("/admin/aplikasi", self.apps),
                Route("/admin/pengguna", self.users), Route("/admin/audit", self.audit),
                Route("/admin/lalu-lintas", self.traffic),
                Route("/admin/ajukan", self.submit_form), Route("/admin/aksi/ajukan", self.submit, methods=["POST"]),
                Route("/admin/aksi/aplikasi/{slug}/{action}", self.app_action, methods=["POST"]),
                Route("/admin/aksi/pengguna/{id}/{action}", self.user_action, methods=["POST"])]

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/admin/antrean", status_code=303)

    async def callback(self, request: Request) -> Response:
        response = await self._auth.callback(request)
        if response is None:
            return self._render(None, "error.html", {"message": "Permintaan masuk tidak sah atau kedaluwarsa."}, 400)
        return response

    async def logout(self, request: Request) -> Response:
        signed_in = await self._auth.load(request)
        form = await request.form()
        if signed_in is None or not self._auth.is_csrf_valid(signed_in, _text(form.get("csrf_token"))):
            return RedirectResponse("/admin/login", status_code=303)
        return await self._auth.logout(signed_in)

    async def queue(self, request: Request) -> Response:
        return await self._page(request, "queue.html", lambda s, a: self._apps(s, a, "pending", None))

    async def apps(self, request: Request) -> Response:
        status = request.query_params.get("status") or None
        q = (request.query_params.get("q") or "")[:200] or None
        return await self._page(request, "apps.html", lambda s, a: self._apps(s, a, status, q))

    async def users(self, request: Request) -> Response:
        q = (request.query_params.get("q") or "")[:200] or None

        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            found = await accounts.list_users(session, actor, PAGE, q=q, opd=None, disabled=None)
            return {"users": found[:PAGE.limit], "q": q or ""}
        return await self._page(request, "users.html", load)

    async def audit(self, request: Request) -> Response:
        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            entries = await listings.list_audit(session, actor, PAGE, action=None, actor_sub=None, target=None,
                                                before=None)
            return {"entries": entries[:PAGE.limit]}
        return await self._page(request, "audit.html", load)

    async def traffic(self, request: Request) -> Response:
        params = request.query_params
        opd = params.get("opd") or None
        minutes, offset = _whole(params.get("menit"), 60), _whole(params.get("mulai"), 0)
        if minutes not in WINDOWS or offset is None or offset > 10**6 or (opd is not None and not _is_slug(opd)):
            signed_in = await self._auth.load(request)
            if signed_in is None:
                return RedirectResponse("/admin/login", status_code=303)
            return self._error(signed_in, BadRequest(
                "Saringan tidak sah: pilih OPD dari daftar dan jendela 15, 60 atau 180 menit."))

        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            view = await load_traffic_view(session, actor, self._clock.now(), opd=opd, minutes=minutes or 60,
                                           offset=offset or 0, limit=TRAFFIC_APPS)
            return {"view": view, "units": await list_visible_units(session, actor), "windows": WINDOWS,
                    "charts": traffic_charts, "offset": offset or 0, "page_size": TRAFFIC_APPS}
        return await self._page(request, "traffic.html", load)

    async def submit_form(self, request: Request) -> Response:
        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            units = await listings.list_opd(session, actor, Page(limit=200, offset=0), under=None, kind=None, q=None)
            return {"units": [u for u in units if actor.can_submit_for(u["path"])]}
        return await self._page(request, "submit.html", load)

    async def submit(self, request: Request) -> Response:
        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            try:
                body = AppSubmission(
                    slug=form.get("slug", ""), name=form.get("name", ""), description=form.get("description", ""),
                    opd=form.get("opd", ""), upstreams=form.get("upstreams", "").split(),
                    auth_mode=form.get("auth_mode", ""), redirect_uris=form.get("redirect_uris", "").split(),
                    scopes=form.get("scopes", "").split(), contact=form.get("contact", ""))  # type: ignore[arg-type]
            except ValidationError as exc:
                raise BadRequest(describe_validation(exc)) from exc
            app = await registration.submit_app(session, actor, body, self._issuer, now)
            return {"title": f"Aplikasi {app['slug']} diajukan dan menunggu persetujuan Kominfo"}
        return await self._action(request, act)

    async def app_action(self, request: Request) -> Response:
        slug, action = request.path_params["slug"], request.path_params["action"]
        if action not in APP_ACTIONS:
            return self._render(None, "error.html", {"message": "Aksi tidak dikenal."}, 404)

        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            reason = form.get("reason", "").strip()[:2000]
            if action == "approve":
                approval = await registration.approve_app(session, actor, slug, self._issuer, now)
                return {"title": f"Aplikasi {slug} disetujui", "client_id": approval.client_id,
                        "client_secret": approval.client_secret}
            if action == "reject":
                if len(reason) < 3:
                    raise BadRequest("Alasan penolakan wajib diisi.")
                await registration.reject_app(session, actor, slug, reason, self._issuer, now)
                return {"title": f"Aplikasi {slug} ditolak"}
            if action == "suspend":
                await registration.suspend_app(session, actor, slug, reason, self._issuer, now)
                return {"title": f"Aplikasi {slug} dihentikan sementara"}
            await registration.resume_app(session, actor, slug, self._issuer, now)
            return {"title": f"Aplikasi {slug} diaktifkan kembali"}
        return await self._action(request, act)

    async def user_action(self, request: Request) -> Response:
        user_id, action = request.path_params["id"], request.path_params["action"]
        if action not in USER_ACTIONS:
            return self._render(None, "error.html", {"message": "Aksi tidak dikenal."}, 404)

        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            if action == "end-sessions":
                await accounts.end_sessions(session, actor, user_id, now)
                return {"title": "Semua sesi pengguna diakhiri"}
            await accounts.set_disabled(session, actor, user_id, action == "disable", now)
            return {"title": "Akun dinonaktifkan" if action == "disable" else "Akun diaktifkan"}
        return await self._action(request, act)

    # --- plumbing -------------------------------------------------------------------------------------------
    async def _apps(self, session: AsyncSession, actor: Actor, status: str | None, q: str | None) -> dict[str, Any]:
        found = await listings.list_apps(session, actor, PAGE, self._issuer, status=status, opd=None, q=q)
        return {"apps": found[:PAGE.limit], "status": status or "", "q": q or ""}

    async def _page(self, request: Request, template: str, load: Any) -> Response:
        signed_in = await self._auth.load(request)
        if signed_in is None:
            return RedirectResponse("/admin/login", status_code=303)
        try:
            async with self._sessionmaker() as session:
                actor = await load_actor(session, signed_in.user_id)
                context = await load(session, actor)
        except Exception as exc:  # rendered, never a stack trace
            return self._error(signed_in, as_gateway_error(exc))
        return self._render(signed_in, template, {**context, "actor": actor, "path": request.url.path})

    async def _action(self, request: Request, act: Any) -> Response:
        signed_in = await self._auth.load(request)
        if signed_in is None:  # the session ended or is older than max_age: sign in again
            return RedirectResponse("/admin/login", status_code=303)
        form = {key: _text(value) or "" for key, value in (await request.form()).items()}
        if not self._auth.is_csrf_valid(signed_in, form.get("csrf_token")):
            return self._error(signed_in, Forbidden("Token formulir tidak sah; muat ulang halaman."))
        try:
            async with self._sessionmaker() as session, session.begin():
                actor = await load_actor(session, signed_in.user_id)
                result = await act(session, actor, form, self._clock.now())
        except Exception as exc:
            return self._error(signed_in, as_gateway_error(exc))
        return self._render(signed_in, "done.html", {**result, "actor": actor, "path": request.url.path})

    def _error(self, signed_in: SignedIn | None, error: GatewayError) -> Response:
        return self._render(signed_in, "error.html", {"message": error.detail or error.title}, error.status)

    def _render(self, signed_in: SignedIn | None, template: str, context: dict[str, Any],
                status: int = 200) -> Response:
        html = TEMPLATES.get_template(template).render(csrf=signed_in.csrf if signed_in else "", urlencode=urlencode,
                                                       **context)
        return HTMLResponse(html, status_code=status, headers={
            "Cache-Control": "no-store", "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'"})


def _whole(raw: str | None, default: int) -> int | None:
    """A query parameter that must be a whole number; None when it is not one."""
    if raw is None or raw == "":
        return default
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None


def _is_slug(value: str) -> bool:
    return SLUG.fullmatch(value) is not None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
