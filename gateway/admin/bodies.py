"""The admin API's request bodies (validated by pydantic; their JSON Schemas go into the OpenAPI document)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# RFC 6749 §3.3 scope-token: printable ASCII except space, '"' and '\'.
SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
# Text starts and ends with a visible character and holds no control characters (NUL above all: PostgreSQL
# refuses it); a paragraph may also hold tabs and line breaks inside. The API refuses rather than trims, so
# what a client sends is what is stored (the console trims its form fields itself).
# Spaces listed one by one: ``\s`` means different sets in Python, Rust (pydantic) and ECMAScript (JSON Schema).
_SPACES = r"\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_EDGE = rf"[^{_SPACES}\u0000-\u001f\u007f]"
LINE = rf"^{_EDGE}(?:[^\u0000-\u001f\u007f]*{_EDGE})?$"
PARAGRAPH = rf"^(?:{_EDGE}(?:[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*{_EDGE})?)?$"
URL = rf"^https?://[^{_SPACES}\u0000-\u001f\u007f]+$"
Text = Annotated[str, Field(min_length=1, max_length=200, pattern=LINE)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A host name the app is also served at, besides {slug}.{apps_domain} (checked again by gateway.apps.check_host).
Host = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.-]+$")]


class AppSubmission(Strict):
    """An OPD operator's request to put an app behind the hub; it waits for Kominfo's review."""

    slug: Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]*$")]
    name: Text
    description: Annotated[str, Field(max_length=4000, pattern=PARAGRAPH)] = ""
    opd: Annotated[str, Field(min_length=1, max_length=64, pattern=LINE, description="slug of the submitting OPD unit")]
    upstreams: Annotated[list[Annotated[str, Field(max_length=500, pattern=URL)]], Field(min_length=1, max_length=10)]
    auth_mode: Literal["session", "bearer", "none"]
    redirect_uris: Annotated[list[Annotated[str, Field(max_length=500, pattern=URL)]], Field(max_length=10)] = []
    scopes: Annotated[
        list[Annotated[str, Field(max_length=100, pattern=SCOPE_TOKEN.pattern)]], Field(max_length=30)
    ] = []
    contact: Annotated[str, Field(min_length=3, max_length=300, pattern=LINE)]
    case_insensitive_paths: bool = Field(default=False, description="the upstream ignores case in paths (IIS...)")
    allow_ambiguous_paths: bool = Field(default=False, description="forward ';', double encoding, trailing dots")
    websocket_origins: Annotated[list[Annotated[str, Field(max_length=300, pattern=URL)]], Field(max_length=10)] = []
    hosts: Annotated[list[Host], Field(max_length=10, description="extra host names the app is also served at")] = []
    client_profile: Literal["fapi2"] | None = Field(
        default=None,
        description="fapi2: the app's client follows FAPI 2.0 (PAR, private_key_jwt, DPoP); needs jwks_uri",
    )
    jwks_uri: Annotated[str, Field(max_length=500, pattern=URL)] | None = Field(
        default=None,
        description="where the app's client publishes its public keys: it authenticates with private_key_jwt",
    )

    @field_validator("scopes")
    @classmethod
    def _scope_tokens(cls, value: list[str]) -> list[str]:
        for scope in value:
            if not SCOPE_TOKEN.match(scope):
                raise ValueError(f"'{scope}' is not a valid scope token (RFC 6749 §3.3)")
        return list(dict.fromkeys(value))


class Reason(Strict):
    reason: Annotated[str, Field(min_length=3, max_length=2000, pattern=PARAGRAPH)]


class OptionalReason(Strict):
    reason: Annotated[str, Field(max_length=2000, pattern=PARAGRAPH)] = ""


class RoleGrant(Strict):
    opd: Annotated[str, Field(min_length=1, max_length=64, pattern=LINE)]
    role: Literal["kominfo-admin", "opd-admin", "operator"]


class InitialTokenRequest(Strict):
    """Kominfo's permission for one automated registration (RFC 7591 §3), optionally bound to an OPD."""

    opd: Annotated[str, Field(min_length=1, max_length=64, pattern=LINE)] | None = None
    ttl_seconds: Annotated[int, Field(ge=60, le=30 * 86_400)] = 7 * 86_400


class ClientSecurityRequest(Strict):
    """A client's FAPI 2.0 profile, PAR and DPoP requirements and ID token algorithm (``idp.clients``)."""

    profile: Literal["fapi2"] | None = None
    require_pushed_authorization_requests: bool = False
    dpop_bound_access_tokens: bool = False
    id_token_signed_response_alg: Literal["ES256", "PS256", "RS256", "EdDSA"] | None = None
