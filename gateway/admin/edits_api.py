"""The admin API's edits: ``PATCH``/``DELETE`` for apps, clients, users and OPD units, and client secret rotation.

Apps, clients and OPD units are Kominfo's to change; users as ``accounts`` decides (Kominfo everyone, an OPD
admin the users wholly in their subtree). Each change is audited with a diff by the workflow it calls; a
client's cached copy on this instance is dropped after commit (other instances within the cache's seconds).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from gateway.admin.accounts import load_managed_user, user_json
from gateway.admin.actor import check_kominfo
from gateway.admin.edit_bodies import AppChanges, ClientChanges, OpdChanges, SecretRotation, UserChanges, given
from gateway.admin.http import Call, json_response
from gateway.admin.registration import app_json
from gateway.app_edits import load_app, remove_app, update_app
from idp.account_edits import update_user
from idp.client_edits import remove_client, rotate_client_secret, update_client
from idp.org import load_opd, load_opd_slug
from idp.org_edits import move_opd, remove_opd, update_opd
from idp.profile_rule import ProfileGuard
from idp.storage.models import Client
from idp.upstream_addresses import UpstreamAddresses


class EditsApi:
    def __init__(
        self,
        issuer: str,
        forget_client: Callable[[str], None],
        profiles: ProfileGuard,
        addresses: UpstreamAddresses | None = None,
        apps_domain: str = "",
    ) -> None:
        self.issuer = issuer
        self.forget_client = forget_client
        self.profiles = profiles  # Kominfo's profile rule (idp.profile_rule)
        self.addresses, self.apps_domain = addresses, apps_domain

    def _forget_after(self, call: Call, client_id: str) -> None:
        async def forget() -> None:
            self.forget_client(client_id)

        call.after_commit.append(forget)

    async def update_app(self, call: Call) -> Response:
        check_kominfo(call.actor)
        slug = call.request.path_params["slug"]
        changes = given(await call.body(AppChanges))
        await update_app(
            call.session,
            slug,
            changes,
            issuer=self.issuer,
            actor=call.actor.sub,
            now=call.now,
            addresses=self.addresses,
            apps_domain=self.apps_domain,
            profiles=self.profiles,
        )
        app, unit = await load_app(call.session, slug)
        return json_response(app_json(app, unit, self.issuer, apps_domain=self.apps_domain))

    async def remove_app(self, call: Call) -> Response:
        check_kominfo(call.actor)
        slug = call.request.path_params["slug"]
        await remove_app(call.session, slug, actor=call.actor.sub, now=call.now)
        return json_response({"removed": slug})

    async def update_client(self, call: Call) -> Response:
        check_kominfo(call.actor)
        client_id = call.request.path_params["client_id"]
        client, _ = await update_client(
            call.session,
            client_id,
            given(await call.body(ClientChanges)),
            actor=call.actor.sub,
            now=call.now,
            profiles=self.profiles,
        )
        self._forget_after(call, client_id)
        opd = await load_opd_slug(call.session, client.opd_id) if client.opd_id else None
        return json_response(client_json(client, opd))

    async def rotate_secret(self, call: Call) -> Response:
        check_kominfo(call.actor)
        client_id = call.request.path_params["client_id"]
        body = await call.body(SecretRotation)
        secret, until = await rotate_client_secret(
            call.session, client_id, grace_seconds=body.grace_seconds, actor=call.actor.sub, now=call.now
        )
        self._forget_after(call, client_id)
        return json_response({"client_id": client_id, "client_secret": secret, "old_secret_valid_until": until})

    async def remove_client(self, call: Call) -> Response:
        check_kominfo(call.actor)
        client_id = call.request.path_params["client_id"]
        await remove_client(call.session, client_id, actor=call.actor.sub, now=call.now)
        self._forget_after(call, client_id)
        return json_response({"removed": client_id})

    async def update_user(self, call: Call) -> Response:
        user, _ = await load_managed_user(call.session, call.actor, call.request.path_params["id"])
        body = given(await call.body(UserChanges))
        await update_user(
            call.session,
            user,
            name=body.get("name"),
            email=body.get("email"),
            nik="" if "nik" in body and body["nik"] is None else body.get("nik"),
            actor=call.actor.sub,
            now=call.now,
        )
        _, roles = await load_managed_user(call.session, call.actor, user.id)
        return json_response(user_json(user, roles))

    async def update_opd(self, call: Call) -> Response:
        check_kominfo(call.actor)
        slug = call.request.path_params["slug"]
        body = given(await call.body(OpdChanges))
        await update_opd(
            call.session, slug, name=body.get("name"), kind=body.get("kind"), actor=call.actor.sub, now=call.now
        )
        if "parent" in body:
            await move_opd(call.session, slug, body["parent"], actor=call.actor.sub, now=call.now)
        unit = await load_opd(call.session, slug)
        parent = unit.path.rstrip("/").rsplit("/", 2)[-2] or None if unit.parent_id else None
        return json_response(
            {"slug": unit.slug, "name": unit.name, "kind": unit.kind, "path": unit.path, "parent": parent}
        )

    async def remove_opd(self, call: Call) -> Response:
        check_kominfo(call.actor)
        slug = call.request.path_params["slug"]
        await remove_opd(call.session, slug, actor=call.actor.sub, now=call.now)
        return json_response({"removed": slug})

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("PATCH", "/apps/{slug}", self.update_app),
            ("DELETE", "/apps/{slug}", self.remove_app),
            ("PATCH", "/clients/{client_id}", self.update_client),
            ("DELETE", "/clients/{client_id}", self.remove_client),
            ("POST", "/clients/{client_id}/secret/rotate", self.rotate_secret),
            ("PATCH", "/users/{id}", self.update_user),
            ("PATCH", "/opd/{slug}", self.update_opd),
            ("DELETE", "/opd/{slug}", self.remove_opd),
        ]


def client_json(client: Client, opd: str | None) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "opd": opd,
        "status": client.status,
        "grant_types": list(client.grant_types),
        "redirect_uris": list(client.redirect_uris),
        "scope": client.scope,
        "auth_method": client.auth_method,
        "resources": list(client.resources),
        "first_party": client.first_party,
        "created_at": client.created_at,
    }
