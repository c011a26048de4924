"""The configuration files' shape (``gerbang apply``, ``gerbang export``): strict, so a mistyped key is an error.

    opd:      [{slug, name, kind, parent}]
    clients:  [{client_id, name, opd, redirect_uris, post_logout_redirect_uris, grant_types, scope, auth_method,
                resources, first_party, backchannel_logout_uri, jwks | jwks_uri, profile, require_par,
                dpop_bound, id_token_alg, status}]                                 # never a secret
    apps:     [{slug, name, opd, upstreams, auth_mode, client_id, resource, hosts, restricted, integrity, status,
               claims, require_dpop}]
    users:    [{email, name, nip, roles: ["operator@dishub", ...]}]              # staff; never a password
    admins:   [{email, name}]                  # shorthand for a user holding kominfo-admin@diskominfo
    idps:     [{slug, name, issuer, client_id, scope, link_by, authoritative, acr_map, for, enabled,
                client_secret_env | private_key_file}]   # upstream OPs; credentials read when created, never exported

Several files are read as one: each entry may be named once across all of them. For an entry that already
exists, only the fields a file sets are compared and applied; an entry's omitted fields keep their values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from idp.clients import CLIENT_ID
from idp.errors import InvalidInput

KOMINFO_UNIT = "diskominfo"
KOMINFO_ADMIN = "kominfo-admin"
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def given(self) -> dict[str, Any]:
        """The fields the file set (what ``apply`` compares for an entry that exists)."""
        return {name: value for name, value in self.model_dump().items() if name in self.model_fields_set}


class OpdEntry(Entry):
    slug: Slug
    name: str
    kind: str
    parent: Slug | None = None


class ClientEntry(Entry):
    client_id: Annotated[str, Field(pattern=f"^{CLIENT_ID.pattern}$")]  # every id the hub hands out (idp.clients)
    name: str
    opd: Slug | None = None
    redirect_uris: list[str] = []
    post_logout_redirect_uris: list[str] = []
    grant_types: list[str] = ["authorization_code", "refresh_token"]
    scope: str = "openid profile email"
    auth_method: Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"] = "client_secret_basic"
    resources: list[str] = []
    first_party: bool = False
    backchannel_logout_uri: str | None = None
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None  # the client's keys by reference (RFC 7591 §2), instead of jwks
    # FAPI 2.0 profile (fapi2: PAR, private_key_jwt, DPoP-bound tokens), PAR, DPoP and ID token algorithm.
    profile: Literal["fapi2"] | None = None
    require_par: bool = False
    dpop_bound: bool = False
    id_token_alg: Literal["ES256", "PS256", "RS256", "EdDSA"] | None = None
    status: Literal["active", "pending", "suspended"] = "active"


class AppEntry(Entry):
    slug: Slug
    name: str | None = None
    opd: Slug
    upstreams: Annotated[list[str], Field(min_length=1)]
    auth_mode: Literal["session", "bearer", "none"]
    client_id: str | None = None
    resource: str | None = None
    hosts: list[str] = []  # extra host names the app is also served at, besides {slug}.{apps_domain}
    restricted: bool = False
    integrity: Literal["none", "signed", "ledger"] = "none"  # gateway.integrity (docs/integrity.md)
    status: Literal["active", "suspended", "pending", "rejected"] = "active"
    # The identity claims its assertion carries (gateway.claims); null: the default name, opd, roles, acr.
    claims: list[Literal["email", "name", "nik", "nip", "opd", "roles", "acr", "amr"]] | None = None
    require_dpop: bool = False  # bearer apps: DPoP-bound tokens only (RFC 9449; `gerbang apps add --require-dpop`)

    @model_validator(mode="before")
    @classmethod
    def _single_host(cls, data: Any) -> Any:
        """Files exported before migration 0013 carry one ``host`` (or null): read it as ``hosts``."""
        if isinstance(data, dict) and "host" in data and "hosts" not in data:
            old = data["host"]
            data = {key: value for key, value in data.items() if key != "host"}
            data["hosts"] = [old] if old else []
        return data


class UserEntry(Entry):
    email: str
    name: str
    nip: Annotated[str, Field(pattern=r"^\d{18}$")] | None = None
    roles: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,63}@[a-z0-9][a-z0-9-]{0,62}$")]] = []


class IdpEntry(Entry):
    """An upstream OpenID provider (``gerbang idps``). Its credential is never in a file: ``client_secret_env``
    names an environment variable holding the secret, ``private_key_file`` a PEM file (relative to the YAML file).
    Both are read only when ``apply`` creates the upstream; change them later with ``gerbang idps update``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    slug: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,63}$")]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    issuer: str
    client_id: Annotated[str, Field(min_length=1, max_length=200)]
    scope: str = "openid profile email"
    link_by: Literal["nik", "nip", "email", "none"] = "email"
    authoritative: bool = False
    acr_map: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9:._/-]{1,200}$")], Literal["1", "2"]] = {}
    audience: Literal["citizens", "asn", "all"] = Field(default="all", alias="for")
    enabled: bool = True
    client_secret_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")] | None = None
    private_key_file: str | None = None

    @model_validator(mode="after")
    def _one_credential(self) -> IdpEntry:
        if self.client_secret_env and self.private_key_file:
            raise ValueError("give either client_secret_env or private_key_file")
        return self


IDP_CREDENTIALS = ("client_secret_env", "private_key_file")


class AdminEntry(Entry):
    email: str
    name: str


class CityConfig(Entry):
    opd: list[OpdEntry] = []
    clients: list[ClientEntry] = []
    apps: list[AppEntry] = []
    users: list[UserEntry] = []
    admins: list[AdminEntry] = []
    idps: list[IdpEntry] = []

    def merged_users(self) -> list[UserEntry]:
        """``admins`` folded into ``users``: each admin holds kominfo-admin in the Kominfo unit."""
        users = {user.email.lower(): user for user in self.users}
        for admin in self.admins:
            email = admin.email.lower()
            role = f"{KOMINFO_ADMIN}@{KOMINFO_UNIT}"
            found = users.get(email)
            if found is None:
                users[email] = UserEntry(email=email, name=admin.name, roles=[role])
            elif role not in found.roles:
                data = {**found.given(), "roles": [*found.roles, role]}
                users[email] = UserEntry(**data)
        return list(users.values())


def load_config(paths: list[Path]) -> CityConfig:
    """Read and merge the files; every problem (YAML, unknown keys, bad values, duplicates) is reported at once."""
    problems: list[str] = []
    parts: dict[str, list[Any]] = {"opd": [], "clients": [], "apps": [], "users": [], "admins": [], "idps": []}
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            part = CityConfig.model_validate(data)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            problems.append(f"{path}: cannot read: {exc}")
            continue
        except ValidationError as exc:
            problems.extend(
                f"{path}: {'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
            )
            continue
        part = _with_key_paths(part, path.parent)
        for section in parts:
            parts[section].extend(getattr(part, section))
    config = CityConfig(**parts) if not problems else None
    if config is not None:
        problems.extend(_duplicates(config))
    if problems:
        raise InvalidInput("the configuration files have problems:\n  - " + "\n  - ".join(problems))
    assert config is not None
    return config


def _with_key_paths(part: CityConfig, base: Path) -> CityConfig:
    """An upstream's ``private_key_file`` is read relative to the file that names it."""
    idps = [
        idp.model_copy(update={"private_key_file": str(base / idp.private_key_file)})
        if idp.private_key_file and not Path(idp.private_key_file).is_absolute()
        else idp
        for idp in part.idps
    ]
    return part.model_copy(update={"idps": idps})


def _duplicates(config: CityConfig) -> list[str]:
    found: list[str] = []
    for section, key in (
        ("opd", "slug"),
        ("clients", "client_id"),
        ("apps", "slug"),
        ("users", "email"),
        ("admins", "email"),
        ("idps", "slug"),
    ):
        seen: set[str] = set()
        for entry in getattr(config, section):
            value = str(getattr(entry, key)).lower()
            if value in seen:
                found.append(f"{section}: '{value}' is named more than once")
            seen.add(value)
    return found


def dump_config(config: CityConfig) -> str:
    """YAML in the files' order of sections, every field written (what ``gerbang export`` prints)."""
    data = {
        section: [entry.model_dump() for entry in getattr(config, section)]
        for section in ("opd", "clients", "apps", "users")
        if getattr(config, section)
    }
    if config.idps:
        data["idps"] = [idp.model_dump(by_alias=True, exclude=set(IDP_CREDENTIALS)) for idp in config.idps]
    header = "# Gerbang city configuration (gerbang export). Apply with: gerbang apply FILE [--dry-run]\n"
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
