"""``/admin/api/idps``: Kominfo's upstream identity providers (the same workflow as ``gerbang idps``), and the
identities linked to a user. Kominfo admins only: an upstream signs people in to every OPD's apps."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from starlette.responses import Response

from gateway.admin.actor import check_kominfo
from gateway.admin.bodies import LINE, Strict, Text
from gateway.admin.http import Call, json_response
from idp.accounts import is_user
from idp.errors import NotFound
from idp.federation.linking import list_identities
from idp.federation.registry import (
    UpstreamSpec,
    add_upstream,
    describe,
    list_upstreams,
    load_upstream,
    remove_upstream,
    update_upstream,
)
from idp.upstream_addresses import UpstreamAddresses

PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
AcrPair = Annotated[
    str, Field(max_length=203, pattern=r"^[A-Za-z0-9:._/-]{1,200}=[12]$", description="UPSTREAM=LOCAL, as `--acr-map`")
]
Secret = Annotated[str, Field(min_length=16, max_length=500, pattern=LINE)]
Issuer = Annotated[
    str,
    Field(
        max_length=500,
        pattern=r"^https://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:" + PORT + ")?"
        r"(/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)*/?$",
    ),
]
Scope = Annotated[str, Field(max_length=500, pattern=r"^([!#-\[\]-~]+ )*openid( [!#-\[\]-~]+)*$")]


class UpstreamChange(Strict):
    """What Kominfo changes on an upstream; absent fields stay as they are. The secret is write-only;
    ``new_key`` makes a new EC P-256 key here for private_key_jwt (its public JWK is in the answer)."""

    name: Text | None = None
    issuer: Issuer | None = None
    client_id: Annotated[str, Field(min_length=1, max_length=200, pattern=LINE)] | None = None
    client_secret: Secret | None = Field(default=None, description="switch to client_secret_basic")
    new_key: bool = Field(default=False, description="switch to private_key_jwt with a new key made by the hub")
    scope: Scope | None = None
    link_by: Literal["nik", "nip", "email", "none"] | None = None
    authoritative: bool | None = None
    acr_map: Annotated[list[AcrPair], Field(max_length=20)] | None = None
    audience: Literal["citizens", "asn", "all"] | None = Field(default=None, alias="for")
    enabled: bool | None = None

    def spec(self) -> UpstreamSpec:
        acr_map = dict(pair.rsplit("=", 1) for pair in self.acr_map) if self.acr_map is not None else None
        return UpstreamSpec(
            name=self.name,
            issuer=self.issuer,
            client_id=self.client_id,
            client_secret=self.client_secret,
            scope=self.scope,
            link_by=self.link_by,
            authoritative=self.authoritative,
            acr_map=acr_map,
            audience=self.audience,
            enabled=self.enabled,
            generate_key=self.new_key and self.client_secret is None,
        )


class UpstreamAddition(UpstreamChange):
    """Without ``client_secret`` the hub makes the upstream's key pair (private_key_jwt, as INApas asks)."""

    slug: Annotated[str, Field(min_length=2, max_length=64, pattern=r"^[a-z][a-z0-9-]{1,63}$")]
    name: Text
    issuer: Issuer
    client_id: Annotated[str, Field(min_length=1, max_length=200, pattern=LINE)]

    def spec(self) -> UpstreamSpec:
        spec = super().spec()
        return UpstreamSpec(**{**spec.__dict__, "generate_key": self.client_secret is None})


async def list_idps(call: Call, secret: bytes) -> Response:
    check_kominfo(call.actor)
    return json_response({"items": [describe(row, secret) for row in await list_upstreams(call.session)]})


async def get_idp(call: Call, secret: bytes) -> Response:
    check_kominfo(call.actor)
    return json_response(describe(await load_upstream(call.session, call.request.path_params["slug"]), secret))


async def add_idp(call: Call, secret: bytes, addresses: UpstreamAddresses) -> Response:
    check_kominfo(call.actor)
    body = await call.body(UpstreamAddition)
    row = await add_upstream(
        call.session, body.slug, body.spec(), secret=secret, actor=call.actor.sub, now=call.now, addresses=addresses
    )
    return json_response(describe(row, secret), 201)


async def update_idp(call: Call, secret: bytes, addresses: UpstreamAddresses) -> Response:
    check_kominfo(call.actor)
    body = await call.body(UpstreamChange)
    row = await update_upstream(
        call.session,
        call.request.path_params["slug"],
        body.spec(),
        secret=secret,
        actor=call.actor.sub,
        now=call.now,
        addresses=addresses,
    )
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
    if not await is_user(call.session, user_id):
        raise NotFound("no such user")
    linked = await list_identities(call.session, user_id)
    items: list[dict[str, Any]] = [
        {
            "idp": identity.idp_slug,
            "idp_name": name,
            "subject": identity.subject,
            "created_at": identity.created_at,
            "last_login_at": identity.last_login_at,
        }
        for identity, name in linked
    ]
    return json_response({"items": items})
