"""Kominfo's console under ``/admin/`` (server-rendered, Bahasa Indonesia first, English on ``?lang=en``):
approval queue, apps, users, audit here; OPD tree, clients, signing keys and policies in ``console_control``.

Pages call the same workflow and listing functions as the admin API, with the same ``Actor`` checks, so the
console can never do more than the API allows. Every POST needs the session's CSRF token and a console
session younger than ``admin_reauth_seconds`` (otherwise: sign in again); every change writes its audit entry
in the service it calls, in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway.admin import accounts, listings, registration, traffic_charts
from gateway.admin.actor import Actor, load_actor
from gateway.admin.audit_view import load_audit_page, read_filters
from gateway.admin.audit_words import action_words
from gateway.admin.bodies import AppSubmission
from gateway.admin.console_acr import SecondFactorRequired
from gateway.admin.console_auth import ConsoleAuth, SignedIn
from gateway.admin.console_control import ControlPages
from gateway.admin.console_edits import EditPages
from gateway.admin.console_idps import IdpPages
from gateway.admin.console_pdp import PdpPages
from gateway.admin.console_text import console_translator
from gateway.admin.http import Page, as_gateway_error, check_text, describe_validation, query_text
from gateway.admin.traffic_view import SLUG, WINDOWS, list_visible_units, load_traffic_view
from gateway.errors import BadRequest, Forbidden, GatewayError, NotFound
from idp.context import IdpContext
from idp.federation.linking import load_linked_idp_names
from idp.i18n import pick_locale, remember_choice
from idp.profile_rule import ProfileGuard
from idp.provider import Provider
from idp.upstream_addresses import build_upstream_addresses

log = logging.getLogger("gerbang.admin")
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)
TEMPLATES.filters["utc"] = lambda at: (
    "—" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")
)
TEMPLATES.filters["wib"] = lambda at: (
    "—" if at is None else datetime.fromtimestamp(at, timezone(timedelta(hours=7))).strftime("%d-%m-%Y %H:%M WIB")
)
PAGE = Page(limit=50, offset=0)
MAX_OFFSET = 10**6
APP_ACTIONS = ("approve", "reject", "suspend", "resume")
USER_ACTIONS = ("disable", "enable", "end-sessions", "reset-mfa")
TRAFFIC_APPS = 30  # apps per page of the traffic view
Translate = Callable[[str], str]
Load = Callable[[AsyncSession, Actor], Awaitable[dict[str, Any]]]
Act = Callable[[AsyncSession, Actor, dict[str, str], int], Awaitable[dict[str, Any]]]
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
}


class Console:
    def __init__(
        self,
        context: IdpContext,
        auth: ConsoleAuth,
        forget_client: Callable[[str], None] | None = None,
        provider: Provider | None = None,
    ) -> None:
        self._sessionmaker = context.sessionmaker
        self._auth = auth
        self._issuer = context.settings.issuer
        self._upstream_addresses = build_upstream_addresses(context.settings)
        self._apps_domain = context.settings.apps_domain
        self.profiles = ProfileGuard(lambda: context.policies.current, self._issuer, self._apps_domain)
        self._clock = context.clock
        self._default_locale = context.settings.default_locale
        self._secure = context.settings.uses_tls
        self._control = ControlPages(self, context, forget_client or (lambda _client_id: None))
        self._pdp = PdpPages(self, context, auth, provider or Provider(context))
        self._idps = IdpPages(self, context.settings.effective_secret, self._upstream_addresses)
        # change and remove (gateway.admin.console_edits)
        self._edits = EditPages(self, self._issuer, self._upstream_addresses, self._apps_domain)

    def routes(self) -> list[Route]:
        return [
            Route("/admin/", self.home),
            Route("/admin/login", self._auth.login),
            Route("/admin/callback", self.callback),
            Route("/admin/logout", self.logout, methods=["POST"]),
            Route("/admin/antrean", self.queue),
            Route("/admin/aplikasi", self.apps),
            Route("/admin/pengguna", self.users),
            Route("/admin/audit", self.audit),
            Route("/admin/lalu-lintas", self.traffic),
            Route("/admin/ajukan", self.submit_form),
            Route("/admin/aksi/ajukan", self.submit, methods=["POST"]),
            Route("/admin/aksi/aplikasi/{slug}/{action}", self.app_action, methods=["POST"]),
            Route("/admin/aksi/pengguna/{id}/{action}", self.user_action, methods=["POST"]),
            *self._control.routes(),
            *self._pdp.routes(),
            *self._idps.routes(),
            *self._edits.routes(),
        ]

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/admin/antrean", status_code=303)

    async def callback(self, request: Request) -> Response:
        try:
            response = await self._auth.callback(request)
        except SecondFactorRequired:
            return self.render(request, None, "error.html", {"message_key": "error.second_factor"}, 403)
        if response is None:
            return self.render(request, None, "error.html", {"message_key": "error.callback"}, 400)
        return response

    async def logout(self, request: Request) -> Response:
        signed_in = await self._auth.load(request)
        form = await request.form()
        if signed_in is None or not self._auth.is_csrf_valid(signed_in, _text(form.get("csrf_token"))):
            return RedirectResponse("/admin/login", status_code=303)
        return await self._auth.logout(signed_in)

    async def queue(self, request: Request) -> Response:
        return await self.page(request, "queue.html", lambda s, a: self._apps(request, s, a, "pending", None))

    async def apps(self, request: Request) -> Response:
        status, q = query_text(request, "status"), query_text(request, "q")
        return await self.page(request, "apps.html", lambda s, a: self._apps(request, s, a, status, q))

    async def users(self, request: Request) -> Response:
        q = query_text(request, "q")

        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            page = self.page_of(request)
            found = await accounts.list_users(session, actor, page, q=q, opd=None, disabled=None)
            linked = await load_linked_idp_names(session, [user["id"] for user in found[: page.limit]])
            return {"users": found[: page.limit], **self.pager(request, page, found), "q": q or "", "linked": linked}

        return await self.page(request, "users.html", load)

    async def audit(self, request: Request) -> Response:
        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            page, filters = self.page_of(request), read_filters(request.query_params)
            entries = await load_audit_page(session, actor, page, filters)
            return {
                "entries": entries[: page.limit],
                "filters": filters,
                "action_words": action_words(pick_locale(request, self._default_locale)),
                **self.pager(request, page, entries),
            }

        return await self.page(request, "audit.html", load)

    async def traffic(self, request: Request) -> Response:
        params = request.query_params
        opd = params.get("opd") or None
        minutes, offset = _whole(params.get("menit"), 60), _whole(params.get("mulai"), 0)
        if minutes not in WINDOWS or offset is None or offset > 10**6 or (opd is not None and not _is_slug(opd)):
            signed_in = await self._auth.load(request)
            if signed_in is None:
                return RedirectResponse("/admin/login", status_code=303)
            return self.error(
                request,
                signed_in,
                BadRequest("Saringan tidak sah: pilih OPD dari daftar dan jendela 15, 60 atau 180 menit."),
            )

        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            view = await load_traffic_view(
                session,
                actor,
                self._clock.now(),
                opd=opd,
                minutes=minutes or 60,
                offset=offset or 0,
                limit=TRAFFIC_APPS,
            )
            return {
                "view": view,
                "units": await list_visible_units(session, actor),
                "windows": WINDOWS,
                "charts": traffic_charts,
                "offset": offset or 0,
                "page_size": TRAFFIC_APPS,
            }

        return await self.page(request, "traffic.html", load)

    async def submit_form(self, request: Request) -> Response:
        async def load(session: AsyncSession, actor: Actor) -> dict[str, Any]:
            units = await listings.list_opd(session, actor, Page(limit=200, offset=0), under=None, kind=None, q=None)
            return {"units": [u for u in units if actor.can_submit_for(u["path"])]}

        return await self.page(request, "submit.html", load)

    async def submit(self, request: Request) -> Response:
        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            try:
                field = {
                    name: form.get(name, "").strip()
                    for name in ("slug", "name", "description", "opd", "auth_mode", "contact")
                }  # API takes no edges
                body = AppSubmission(
                    slug=field["slug"],
                    name=field["name"],
                    description=field["description"],
                    opd=field["opd"],
                    upstreams=form.get("upstreams", "").split(),
                    auth_mode=field["auth_mode"],
                    redirect_uris=form.get("redirect_uris", "").split(),
                    scopes=form.get("scopes", "").split(),
                    contact=field["contact"],
                    client_profile=form.get("client_profile", "").strip() or None,
                    jwks_uri=form.get("jwks_uri", "").strip() or None,
                )
            except ValidationError as exc:
                raise BadRequest(describe_validation(exc)) from exc
            app = await registration.submit_app(
                session,
                actor,
                body,
                self._issuer,
                now,
                self._upstream_addresses,
                apps_domain=self._apps_domain,
                profiles=self.profiles,
            )
            return {"title_key": "done.submitted", "args": {"slug": app["slug"]}}

        return await self.action(request, act)

    async def app_action(self, request: Request) -> Response:
        slug, action = request.path_params["slug"], request.path_params["action"]
        t = self.translate(request)

        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            if action not in APP_ACTIONS:
                raise NotFound(t("error.unknown_action"))
            reason = form.get("reason", "").strip()[:2000]
            done = {"args": {"slug": slug}}
            if action == "approve":
                approval = await registration.approve_app(
                    session,
                    actor,
                    slug,
                    self._issuer,
                    now,
                    self._upstream_addresses,
                    apps_domain=self._apps_domain,
                    profiles=self.profiles,
                )
                return {
                    **done,
                    "title_key": "done.approved",
                    "client_id": approval.client_id,
                    "client_secret": approval.client_secret,
                }
            if action == "reject":
                if len(reason) < 3:
                    raise BadRequest(t("error.reject_reason"))
                await registration.reject_app(
                    session, actor, slug, reason, self._issuer, now, apps_domain=self._apps_domain
                )
                return {**done, "title_key": "done.rejected"}
            if action == "suspend":
                app = await registration.suspend_app(
                    session, actor, slug, reason, self._issuer, now, apps_domain=self._apps_domain
                )
                return {**done, "title_key": "done.suspended", "forget": app["client_id"]}
            app = await registration.resume_app(session, actor, slug, self._issuer, now, apps_domain=self._apps_domain)
            return {**done, "title_key": "done.resumed", "forget": app["client_id"]}

        return await self.action(request, act)

    async def user_action(self, request: Request) -> Response:
        user_id, action = request.path_params["id"], request.path_params["action"]
        t = self.translate(request)

        async def act(session: AsyncSession, actor: Actor, form: dict[str, str], now: int) -> dict[str, Any]:
            if action not in USER_ACTIONS:
                raise NotFound(t("error.unknown_action"))
            if action == "end-sessions":
                await accounts.end_sessions(session, actor, user_id, now)
            elif action == "reset-mfa":
                await accounts.reset_mfa(session, actor, user_id, now)
            else:
                await accounts.set_disabled(session, actor, user_id, action == "disable", now)
            return {"title_key": f"done.{action}", "back": "/admin/pengguna"}

        return await self.action(request, act)

    # --- plumbing (also used by ``ControlPages``) -------------------------------------------------------------
    async def _apps(
        self, request: Request, session: AsyncSession, actor: Actor, status: str | None, q: str | None
    ) -> dict[str, Any]:
        page = self.page_of(request)
        found = await listings.list_apps(
            session, actor, page, self._issuer, status=status, opd=None, q=q, apps_domain=self._apps_domain
        )
        return {"apps": found[: page.limit], **self.pager(request, page, found), "status": status or "", "q": q or ""}

    def translate(self, request: Request) -> Translate:
        return console_translator(pick_locale(request, self._default_locale))

    def page_of(self, request: Request) -> Page:
        """``?offset=``; anything but a small non-negative integer is bad input (a readable 400 page)."""
        raw = request.query_params.get("offset") or "0"
        if not raw.isdigit() or int(raw) > MAX_OFFSET:
            raise BadRequest(self.translate(request)("error.offset"))
        return Page(limit=PAGE.limit, offset=int(raw))

    def pager(self, request: Request, page: Page, found: list[Any]) -> dict[str, str | None]:
        """Links to the previous and next page (``found`` holds ``limit + 1`` rows when there is a next one)."""

        def link(offset: int) -> str:
            query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "lang")]
            return f"{request.url.path}?{urlencode([*query, ('offset', str(offset))])}"

        return {
            "prev_link": link(max(page.offset - page.limit, 0)) if page.offset else None,
            "next_link": link(page.offset + page.limit) if len(found) > page.limit else None,
        }

    async def page(self, request: Request, template: str, load: Load) -> Response:
        signed_in = await self._auth.load(request)
        if signed_in is None:
            return RedirectResponse("/admin/login", status_code=303)
        try:
            for name, value in request.query_params.multi_items():
                check_text(name, value)  # a NUL in a search is bad input, said so (not silently searched without)
            async with self._sessionmaker() as session:
                actor = await load_actor(session, signed_in.user_id)
                context = await load(session, actor)
        except Exception as exc:  # rendered, never a stack trace
            return self.error(request, signed_in, as_gateway_error(exc))
        return self.render(request, signed_in, template, {**context, "actor": actor})

    async def action(self, request: Request, act: Act) -> Response:
        """Run one change in one transaction; a ``forget`` client id in the result leaves the client cache after
        commit, an ``after`` coroutine function runs after commit (e.g. reload the signing keys)."""
        signed_in = await self._auth.load(request)
        if signed_in is None:  # the session ended or is older than max_age: sign in again
            return RedirectResponse("/admin/login", status_code=303)
        try:
            # NUL belongs in no field (PostgreSQL refuses it in text): dropped, not an outage.
            form = {key: (_text(value) or "").replace("\x00", "") for key, value in (await request.form()).items()}
        except Exception as exc:  # a malformed or oversized body
            return self.error(request, signed_in, BadRequest(str(exc)[:200]))
        if not self._auth.is_csrf_valid(signed_in, form.get("csrf_token")):
            return self.error(request, signed_in, Forbidden(self.translate(request)("error.csrf")))
        try:
            for name, value in request.path_params.items():
                check_text(name, value)
            async with self._sessionmaker() as session, session.begin():
                actor = await load_actor(session, signed_in.user_id)
                result = await act(session, actor, form, self._clock.now())
        except Exception as exc:
            return self.error(request, signed_in, as_gateway_error(exc))
        await self._after_commit(result.pop("after", None), result.pop("forget", None))
        return self.render(request, signed_in, "done.html", {**result, "actor": actor})

    async def _after_commit(self, after: Callable[[], Awaitable[Any]] | None, forget: str | None) -> None:
        """The change is committed: a failure here is logged, not shown (the periodic refreshes catch up)."""
        try:
            if after is not None:
                await after()
            if forget is not None:
                self._control.forget_client(forget)
        except Exception:
            log.exception("console: a step after commit failed")

    def error(self, request: Request, signed_in: SignedIn | None, error: GatewayError) -> Response:
        return self.render(
            request,
            signed_in,
            "error.html",
            {"message_key": f"error.{error.status}", "detail": error.detail},
            error.status,
        )

    def render(
        self, request: Request, signed_in: SignedIn | None, template: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        locale = pick_locale(request, self._default_locale)
        # The language switch reloads this page; after a form (POST), it goes on to the page to return to.
        lang_path = request.url.path if request.method == "GET" else context.get("back") or "/admin/antrean"
        lang_query = (
            urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "lang"])
            if request.method == "GET"
            else ""
        )
        html = TEMPLATES.get_template(template).render(
            csrf=signed_in.csrf if signed_in else "",
            urlencode=urlencode,
            t=console_translator(locale),
            lang=locale,
            lang_path=lang_path,
            lang_query=lang_query,
            path=request.url.path,
            **context,
        )
        response = HTMLResponse(html, status_code=status, headers=HEADERS)
        remember_choice(request, response, self._secure)
        return response


def _whole(raw: str | None, default: int) -> int | None:
    """A query parameter that must be a whole number; None when it is not one."""
    if raw is None or raw == "":
        return default
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None


def _is_slug(value: str) -> bool:
    return SLUG.fullmatch(value) is not None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
