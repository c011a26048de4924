"""``/admin/api/idps``: Kominfo's upstream identity providers (the same workflow as ``gerbang idps``), and the
identities linked to a user. Kominfo admins only: an upstream signs people in to every OPD's apps."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy import select
from starlette.responses import Response

from gateway.admin.actor import check_kominfo
from gateway.admin.bodies import LINE, URL, Strict, Text
from gateway.admin.http import Call, json_response
from idp.errors import NotFound
from idp.federation.linking import list_identities
from idp.federation.registry import (UpstreamSpec, add_upstream, describe, list_upstreams, load_upstream,
                                     remove_upstream, update_upstream)
from idp.storage.models import User

AcrMap = dict[Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9:._/-]+$")], Literal["1", "2"]]
Secret = Annotated[str, Field(min_length=16, max_length=500, pattern=LINE)]
Pem = Annotated[str, Field(min_length=100, max_length=8000, pattern=r"^-----BEGIN [A-Z ]*PRIVATE KEY-----")]


class UpstreamChange(Strict):
    """What Kominfo changes on an upstream; absent fields stay as they are. Secrets are write-only."""

    name: Text | None = None
    issuer: Annotated[str, Field(max_length=500, pattern=URL)] | None = None
    client_id: Annotated[str, Field(min_length=1, max_length=200, pattern=LINE)] | None = None
    client_secret: Secret | None = None
    private_key_pem: Pem | None = Field(default=None, description="PEM private key for private_key_jwt")
    scope: Annotated[str, Field(min_length=6, max_length=500, pattern=LINE)] | None = None
    link_by: Literal["nik", "nip", "email", "none"] | None = None
    authoritative: bool | None = None
    acr_map: AcrMap | None = None
    audience: Literal["citizens", "asn", "all"] | None = Field(default=None, alias="for")
    enabled: bool | None = None

    def spec(self) -> UpstreamSpec:
        return UpstreamSpec(name=self.name, issuer=self.issuer, client_id=self.client_id,
                            client_secret=self.client_secret, private_key_pem=self.private_key_pem, scope=self.scope,
                            link_by=self.link_by, authoritative=self.authoritative, acr_map=self.acr_map,
                            audience=self.audience, enabled=self.enabled)


class UpstreamAddition(UpstreamChange):
    slug: Annotated[str, Field(min_length=2, max_length=64, pattern=r"^[a-z][a-z0-9-]{1,63}$")]
    name: Text
    issuer: Annotated[str, Field(max_length=500, pattern=URL)]
    client_id: Annotated[str, Field(min_length=1, max_length=200, pattern=LINE)]


async def list_idps(call: Call, secret: bytes) -> Response:
    check_kominfo(call.actor)
    return json_response({"items": [describe(row, secret) for row in await list_upstreams(call.session)]})


async def get_idp(call: Call, secret: bytes) -> Response:
    check_kominfo(call.actor)
    return json_response(describe(await load_upstream(call.session, call.request.path_params["slug"]), secret))


async def add_idp(call: Call, secret: bytes) -> Response:
    check_kominfo(call.actor)
    body = await call.body(UpstreamAddition)
    row = await add_upstream(call.session, body.slug, body.spec(), secret=secret, actor=call.actor.sub,
                             now=call.now)
    return json_response(describe(row, secret), 201)


async def update_idp(call: Call, secret: bytes) -> Response:
    check_kominfo(call.actor)
    body = await call.body(UpstreamChange)
    row = await update_upstream(call.session, call.request.path_params["slug"], body.spec(), secret=secret,
                                actor=call.actor.sub, now=call.now)
    return json_response(describe(row, secret))


async def remove_idp(call: Call) -> Response:
    check_kominfo(call.actor)
    slug = call.request.path_params["slug"]
    await remove_upstream(call.session, slug, actor=call.actor.sub, now=call.now)
    return json_response({"removed": slug})


async def user_identities(call: Call) -> Response:
    """The upstream identities linked to one account (the console's user view)."""
    check_kominfo(call.actor)
    user_id = call.request.path_params["id"]
    if await call.session.scalar(select(User.id).where(User.id == user_id)) is None:
        raise NotFound("no such user")
    linked = await list_identities(call.session, user_id)
    items: list[dict[str, Any]] = [{"idp": identity.idp_slug, "idp_name": name, "subject": identity.subject,
                                    "created_at": identity.created_at, "last_login_at": identity.last_login_at}
                                   for identity, name in linked]
    return json_response({"items": items})
