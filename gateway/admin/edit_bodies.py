"""Request bodies of the admin API's edits (PATCH): every field optional; ``null`` clears the nullable ones."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from gateway.admin.bodies import LINE, SCOPE_TOKEN, URL, Host, Strict, Text

Url = Annotated[str, Field(max_length=500, pattern=URL)]
Slug = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class AppChanges(Strict):
    name: Text | None = None
    opd: Slug | None = None
    upstreams: Annotated[list[Url], Field(min_length=1, max_length=10)] | None = None
    auth_mode: Literal["session", "bearer", "none"] | None = None
    client_id: Annotated[str, Field(min_length=1, max_length=64, pattern=LINE)] | None = None
    resource: Url | None = None
    hosts: Annotated[list[Host], Field(max_length=10)] | None = None  # replaces the extra host names
    restricted: bool | None = None
    require_dpop: bool | None = None
    integrity: Literal["none", "signed", "ledger"] | None = None
    case_insensitive_paths: bool | None = None
    allow_ambiguous_paths: bool | None = None
    websocket_origins: Annotated[list[Url], Field(max_length=10)] | None = None
    claims: (
        Annotated[
            list[Literal["email", "name", "nik", "nip", "opd", "roles", "acr", "amr"]],
            Field(
                max_length=8,
                description="identity claims the assertion carries (null: the default name, opd, roles, acr)",
            ),
        ]
        | None
    ) = None


class ClientChanges(Strict):
    name: Text | None = None
    opd: Slug | None = None
    redirect_uris: Annotated[list[Url], Field(max_length=20)] | None = None
    post_logout_redirect_uris: Annotated[list[Url], Field(max_length=20)] | None = None
    scope: (
        Annotated[
            str,
            Field(min_length=1, max_length=1000, pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$"),
        ]
        | None
    ) = None
    grant_types: (
        Annotated[
            list[Literal["authorization_code", "refresh_token", "client_credentials"]],
            Field(min_length=1, max_length=3),
        ]
        | None
    ) = None
    resources: Annotated[list[Url], Field(max_length=20)] | None = None
    backchannel_logout_uri: Url | None = None


class SecretRotation(Strict):
    grace_seconds: Annotated[int, Field(ge=0, le=30 * 86_400)] = 900


class UserChanges(Strict):
    name: Text | None = None
    email: Annotated[str, Field(min_length=3, max_length=254, pattern=LINE)] | None = None
    nik: Annotated[str, Field(pattern=r"^\d{16}$")] | None = None


class OpdChanges(Strict):
    name: Text | None = None
    kind: (
        Literal["kota", "dinas", "badan", "sekretariat", "kecamatan", "kelurahan", "uptd", "puskesmas", "bagian"] | None
    ) = None
    parent: Slug | None = None


NULLABLE = {
    AppChanges: ("client_id", "resource", "hosts", "claims"),
    ClientChanges: ("backchannel_logout_uri",),
    UserChanges: ("nik",),
    OpdChanges: ("parent",),
}
_ = SCOPE_TOKEN  # the scope pattern above is RFC 6749 §3.3's scope-token, space-separated


def given(body: Strict) -> dict[str, Any]:
    """The fields the caller sent: ``null`` kept for nullable fields, dropped (no change) for the others."""
    nullable = NULLABLE.get(type(body), ())
    return {
        name: getattr(body, name)
        for name in body.model_fields_set
        if getattr(body, name) is not None or name in nullable
    }
