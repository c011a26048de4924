"""``/admin/api/``: the routes of Kominfo's admin API (a starlette sub-app the hub dispatches ``/admin/`` to).

Each handler reads its input, calls one workflow or listing function (which checks the caller's scope
first), and answers JSON; ``AdminHttp.endpoint`` authenticates and renders errors. The route table here
and ``gateway.admin.openapi`` describe the same endpoints (a test keeps them in step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.admin import accounts, client_review, idp_api, listings, registration
from gateway.admin.actor import check_kominfo
from gateway.admin.bodies import (
    AppSubmission,
    ClientSecurityRequest,
    InitialTokenRequest,
    OptionalReason,
    Reason,
    RoleGrant,
)
from gateway.admin.console import Console
from gateway.admin.console_acr import ConsoleAcrCheck
from gateway.admin.console_auth import ConsoleAuth
from gateway.admin.edits_api import EditsApi
from gateway.admin.http import AdminHttp, Call, json_response, page_response
from gateway.admin.openapi import OPERATIONS, build_openapi
from gateway.admin.pdp_api import PdpApi
from gateway.admin.traffic_view import load_traffic_view
from gateway.errors import BadRequest, GatewayError, MethodNotAllowed, NotFound
from gateway.headers import new_id
from gateway.integrity.ledger_store import list_receipts
from gateway.problem import problem_response
from gateway.settings import Settings
from gateway.token_verifier import TokenVerifier
from idp.audit_verify import verify_database
from idp.context import IdpContext
from idp.key_rotation import revoke_signing_key, rotate_signing_key
from idp.profile_rule import ProfileGuard
from idp.provider import Provider
from idp.upstream_addresses import build_upstream_addresses

PREFIX = "/admin/api"


class AdminApi:
    def __init__(
        self,
        context: IdpContext,
        verifier: TokenVerifier,
        forget_client: Callable[[str], None] | None = None,
        provider: Provider | None = None,
    ) -> None:
        self.context = context
        self.pdp = PdpApi(provider or Provider(context))
        # The provider caches client rows for a few seconds; a suspension drops this instance's copy at once.
        self.forget_client = forget_client or (lambda _client_id: None)
        self.issuer = context.settings.issuer
        self.upstream_addresses = build_upstream_addresses(context.settings)
        self.apps_domain = context.settings.apps_domain
        self.profiles = ProfileGuard(lambda: context.policies.current, self.issuer, self.apps_domain)
        self.http = AdminHttp(context.sessionmaker, verifier, self.issuer, context.clock)

    # --- OPD tree, apps -------------------------------------------------------------------------------------
    async def opd(self, call: Call) -> Response:
        page = call.page()
        return page_response(
            await listings.list_opd(
                call.session, call.actor, page, under=call.param("under"), kind=call.param("kind"), q=call.param("q")
            ),
            page,
        )

    async def apps(self, call: Call) -> Response:
        page = call.page()
        return page_response(
            await listings.list_apps(
                call.session,
                call.actor,
                page,
                self.issuer,
                status=call.param("status"),
                opd=call.param("opd"),
                q=call.param("q"),
                apps_domain=self.apps_domain,
            ),
            page,
        )

    async def app(self, call: Call) -> Response:
        app, unit = await registration.load_visible_app(call.session, call.actor, call.request.path_params["slug"])
        return json_response(registration.app_json(app, unit, self.issuer, apps_domain=self.apps_domain))

    async def receipts(self, call: Call) -> Response:
        slug = call.request.path_params["slug"]
        await registration.load_visible_app(call.session, call.actor, slug)
        page = call.page()
        after = int(page.after) if page.after is not None and page.after.isdigit() else 0
        links = await list_receipts(
            call.session, slug, since_ms=int(call.int_param("since") or 0) * 1000, after_seq=after, limit=page.limit + 1
        )
        return page_response([link.as_json() for link in links], page, cursor="seq")

    async def submit(self, call: Call) -> Response:
        body = await call.body(AppSubmission)
        return json_response(
            await registration.submit_app(
                call.session,
                call.actor,
                body,
                self.issuer,
                call.now,
                self.upstream_addresses,
                apps_domain=self.apps_domain,
                profiles=self.profiles,
            ),
            201,
        )

    async def approve(self, call: Call) -> Response:
        approval = await registration.approve_app(
            call.session,
            call.actor,
            call.request.path_params["slug"],
            self.issuer,
            call.now,
            self.upstream_addresses,
            apps_domain=self.apps_domain,
            profiles=self.profiles,
        )
        return json_response(
            {"app": approval.app, "client_id": approval.client_id, "client_secret": approval.client_secret}
        )

    async def reject(self, call: Call) -> Response:
        body = await call.body(Reason)
        return json_response(
            await registration.reject_app(
                call.session,
                call.actor,
                call.request.path_params["slug"],
                body.reason,
                self.issuer,
                call.now,
                apps_domain=self.apps_domain,
            )
        )

    async def suspend(self, call: Call) -> Response:
        body = await call.body(OptionalReason)
        app = await registration.suspend_app(
            call.session,
            call.actor,
            call.request.path_params["slug"],
            body.reason,
            self.issuer,
            call.now,
            apps_domain=self.apps_domain,
        )
        self._forget_after(call, app["client_id"])
        return json_response(app)

    async def resume(self, call: Call) -> Response:
        app = await registration.resume_app(
            call.session,
            call.actor,
            call.request.path_params["slug"],
            self.issuer,
            call.now,
            apps_domain=self.apps_domain,
        )
        self._forget_after(call, app["client_id"])
        return json_response(app)

    def _forget_after(self, call: Call, client_id: str | None) -> None:
        if client_id is not None:

            async def forget() -> None:
                self.forget_client(client_id)

            call.after_commit.append(forget)

    # --- clients, users -------------------------------------------------------------------------------------
    async def clients(self, call: Call) -> Response:
        page = call.page()
        return page_response(
            await listings.list_clients(
                call.session, call.actor, page, status=call.param("status"), opd=call.param("opd"), q=call.param("q")
            ),
            page,
        )

    async def initial_token(self, call: Call) -> Response:
        body = await call.body(InitialTokenRequest)
        return json_response(
            await client_review.create_initial_token(call.session, call.actor, body, self.issuer, call.now), 201
        )

    async def review_client(self, call: Call) -> Response:
        client_id, action = call.request.path_params["client_id"], call.request.path_params["action"]
        if action not in client_review.TRANSITIONS:
            raise NotFound("there is no admin API endpoint here")
        result = await client_review.change_client_status(call.session, call.actor, client_id, action, call.now)
        self._forget_after(call, client_id)
        return json_response(result)

    async def client_security(self, call: Call) -> Response:
        client_id = call.request.path_params["client_id"]
        body = await call.body(ClientSecurityRequest)
        result = await client_review.set_client_security(
            call.session, call.actor, client_id, body, call.now, self.profiles
        )
        self._forget_after(call, client_id)
        return json_response(result)

    async def users(self, call: Call) -> Response:
        page = call.page()
        disabled = call.param("disabled")
        return page_response(
            await accounts.list_users(
                call.session,
                call.actor,
                page,
                q=call.param("q"),
                opd=call.param("opd"),
                disabled=None if disabled is None else disabled == "true",
                match=call.param("match") or "contains",
                nik=call.param("nik"),
            ),
            page,
            cursor="email",
        )

    async def disable(self, call: Call) -> Response:
        return json_response(
            await accounts.set_disabled(call.session, call.actor, call.request.path_params["id"], True, call.now)
        )

    async def enable(self, call: Call) -> Response:
        return json_response(
            await accounts.set_disabled(call.session, call.actor, call.request.path_params["id"], False, call.now)
        )

    async def end_sessions(self, call: Call) -> Response:
        return json_response(
            await accounts.end_sessions(call.session, call.actor, call.request.path_params["id"], call.now)
        )

    async def reset_mfa(self, call: Call) -> Response:
        return json_response(
            await accounts.reset_mfa(call.session, call.actor, call.request.path_params["id"], call.now)
        )

    async def grant_role(self, call: Call) -> Response:
        body = await call.body(RoleGrant)
        return json_response(
            await accounts.grant_role(call.session, call.actor, call.request.path_params["id"], body, call.now)
        )

    async def revoke_role(self, call: Call) -> Response:
        body = await call.body(RoleGrant)
        return json_response(
            await accounts.revoke_role(call.session, call.actor, call.request.path_params["id"], body, call.now)
        )

    # --- keys, audit, policies, me ----------------------------------------------------------------------------
    async def keys(self, call: Call) -> Response:
        page = call.page()
        return page_response(await listings.list_keys(call.session, call.actor, page, call.now), page)

    async def rotate(self, call: Call) -> Response:
        check_kominfo(call.actor)
        key = await rotate_signing_key(call.session, self.context.settings, actor=call.actor.sub, now=call.now)
        call.after_commit.append(self.context.keys.load)  # sign with the new key here at once
        return json_response({"kid": key.kid, "alg": key.alg, "created_at": key.created_at}, 201)

    async def revoke_key(self, call: Call) -> Response:
        check_kominfo(call.actor)
        kid = call.request.path_params["kid"]
        replacement = await revoke_signing_key(
            call.session, self.context.settings, kid=kid, actor=call.actor.sub, now=call.now
        )
        call.after_commit.append(self.context.keys.load)  # stop trusting it here at once
        return json_response({"revoked": kid, "new_kid": replacement.kid if replacement else None})

    async def audit(self, call: Call) -> Response:
        page = call.page()
        return page_response(
            await listings.list_audit(
                call.session,
                call.actor,
                page,
                action=call.param("action"),
                actor_sub=call.param("actor"),
                target=call.param("target"),
                before=call.int_param("before"),
                since=call.int_param("since"),
                until=call.int_param("until"),
            ),
            page,
        )

    async def audit_verify(self, call: Call) -> Response:
        check_kominfo(call.actor)
        report = await verify_database(call.session, secret=self.context.settings.effective_secret)
        fault = report.fault
        return json_response(
            {
                "intact": report.intact,
                "entries": report.entries,
                "checkpoints": report.checkpoints,
                "last_seq": report.last_seq,
                "head_hash": report.head_hash,
                "summary": report.summary(),
                "first_fault": None
                if fault is None
                else {"seq": fault.seq, "kind": fault.kind, "message": fault.message},
            }
        )

    async def policies(self, call: Call) -> Response:
        current = self.context.policies.current
        return json_response(
            {
                "fingerprint": current.fingerprint,
                "sources": list(current.sources),
                "rules": listings.describe_rules(current),
                "apps": [
                    {
                        "slug": a.slug,
                        "restricted": a.restricted,
                        "require_acr": a.require_acr,
                        "allow_anonymous": a.allow_anonymous,
                    }
                    for a in current.apps.values()
                ],
                "limits": [
                    {
                        "id": s.id,
                        "per": s.per,
                        "route_class": s.route_class,
                        "rate": s.rate,
                        "period": s.period,
                        "burst": s.burst,
                        "quota": s.quota,
                        "window": s.window,
                    }
                    for s in current.limits
                ],
            }
        )

    async def traffic(self, call: Call) -> Response:
        page = call.page()
        minutes = call.int_param("minutes")
        view = await load_traffic_view(
            call.session,
            call.actor,
            call.now,
            opd=call.param("opd"),
            minutes=60 if minutes is None else minutes,
            offset=page.offset,
            limit=page.limit,
        )
        return json_response(view.as_json(page.offset, page.limit))

    async def me(self, call: Call) -> Response:
        return json_response(call.actor.as_json())

    # --- upstream identity providers (gateway.admin.idp_api) -------------------------------------------------
    async def idps(self, call: Call) -> Response:
        return await idp_api.list_idps(call, self.context.settings.effective_secret)

    async def idp(self, call: Call) -> Response:
        return await idp_api.get_idp(call, self.context.settings.effective_secret)

    async def idp_add(self, call: Call) -> Response:
        return await idp_api.add_idp(call, self.context.settings.effective_secret, self.upstream_addresses)

    async def idp_update(self, call: Call) -> Response:
        return await idp_api.update_idp(call, self.context.settings.effective_secret, self.upstream_addresses)

    # --- the sub-app ------------------------------------------------------------------------------------------
    def routes(self) -> list[tuple[str, str, Any]]:
        """(method, path, handler) for every endpoint; the OpenAPI document is checked against this list."""
        return [
            ("GET", "/me", self.me),
            ("GET", "/opd", self.opd),
            ("GET", "/apps", self.apps),
            ("POST", "/apps", self.submit),
            ("GET", "/apps/{slug}", self.app),
            ("GET", "/apps/{slug}/receipts", self.receipts),
            ("POST", "/apps/{slug}/approve", self.approve),
            ("POST", "/apps/{slug}/reject", self.reject),
            ("POST", "/apps/{slug}/suspend", self.suspend),
            ("POST", "/apps/{slug}/resume", self.resume),
            ("GET", "/clients", self.clients),
            ("POST", "/clients/{client_id}/{action}", self.review_client),
            ("PUT", "/clients/{client_id}/security", self.client_security),
            ("POST", "/initial-access-tokens", self.initial_token),
            ("GET", "/users", self.users),
            ("POST", "/users/{id}/disable", self.disable),
            ("POST", "/users/{id}/enable", self.enable),
            ("POST", "/users/{id}/end-sessions", self.end_sessions),
            ("POST", "/users/{id}/reset-mfa", self.reset_mfa),
            ("POST", "/users/{id}/roles", self.grant_role),
            ("DELETE", "/users/{id}/roles", self.revoke_role),
            ("GET", "/keys", self.keys),
            ("POST", "/keys/rotate", self.rotate),
            ("POST", "/keys/{kid}/revoke", self.revoke_key),
            ("GET", "/audit", self.audit),
            ("GET", "/audit/verify", self.audit_verify),
            ("GET", "/policies", self.policies),
            ("GET", "/traffic", self.traffic),
            ("GET", "/idps", self.idps),
            ("POST", "/idps", self.idp_add),
            ("GET", "/idps/{slug}", self.idp),
            ("PATCH", "/idps/{slug}", self.idp_update),
            ("DELETE", "/idps/{slug}", idp_api.remove_idp),
            ("GET", "/users/{id}/identities", idp_api.user_identities),
            *EditsApi(
                self.issuer, self.forget_client, self.profiles, self.upstream_addresses, self.apps_domain
            ).routes(),  # PATCH/DELETE (gateway.admin.edits_api)
            *self.pdp.routes(),  # UU PDP: requests, register, breaches (gateway.admin.pdp_api)
        ]

    def build(self, extra: list[Route] | None = None) -> Starlette:
        document = build_openapi(self.issuer, self.routes())  # first: it names any endpoint it lacks
        by_path: dict[str, dict[str, Any]] = {}
        for method, path, handler in self.routes():
            query = OPERATIONS[(method, path)].query_names()  # the server accepts what the document lists
            by_path.setdefault(path, {})[method] = self.http.endpoint(handler, query)
        routes = [Route(PREFIX + path, _dispatch(methods), methods=list(methods)) for path, methods in by_path.items()]
        routes.append(Route(PREFIX + "/openapi.json", lambda _r: json_response(document), methods=["GET"]))
        routes.extend(extra or [])
        return Starlette(
            routes=routes, exception_handlers={HTTPException: _http_problem, 404: _http_problem, 405: _http_problem}
        )


def _dispatch(methods: dict[str, Any]) -> Any:
    async def run(request: Request) -> Response:
        # HEAD is answered as GET (starlette adds it to every GET route).
        return await (methods.get(request.method) or methods["GET"])(request)

    return run


async def _http_problem(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    error: GatewayError = (
        MethodNotAllowed("this method is not allowed here")
        if status == 405
        else NotFound("there is no admin API endpoint here")
        if status == 404
        else BadRequest("the request is invalid")
    )
    return problem_response(error, new_id(128))


def build_admin_app(
    settings: Settings,
    context: IdpContext,
    verifier: TokenVerifier,
    forget_client: Callable[[str], None] | None = None,
    provider: Provider | None = None,
) -> Starlette:
    """The API and the console (``gateway.admin.console``) as one sub-app for ``/admin/``.

    ``provider``: the hub's, for the data-rights workflows that tell apps (back-channel logout) and mail people."""
    provider = provider or Provider(context)
    auth = ConsoleAuth(
        context.sessionmaker,
        context.keys,
        settings.issuer,
        settings.effective_secret,
        context.clock,
        settings.uses_tls,
        settings.admin_reauth_seconds,
        ConsoleAcrCheck(context.sessionmaker, context.policies),
    )
    console = Console(context, auth, forget_client, provider)
    return AdminApi(context, verifier, forget_client, provider).build(console.routes())
