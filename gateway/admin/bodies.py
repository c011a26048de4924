"""The admin API's request bodies (validated by pydantic; their JSON Schemas go into the OpenAPI document)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# RFC 6749 §3.3 scope-token: printable ASCII except space, '"' and '\'.
SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
Text = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AppSubmission(Strict):
    """An OPD operator's request to put an app behind the hub; it waits for Kominfo's review."""

    slug: Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]*$")]
    name: Text
    description: Annotated[str, Field(max_length=4000)] = ""
    opd: Annotated[str, Field(min_length=1, max_length=64, description="slug of the submitting OPD unit")]
    upstreams: Annotated[list[Annotated[str, Field(max_length=500)]], Field(min_length=1, max_length=10)]
    auth_mode: Literal["session", "bearer", "none"]
    redirect_uris: Annotated[list[Annotated[str, Field(max_length=500)]], Field(max_length=10)] = []
    scopes: Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=30)] = []
    contact: Annotated[str, Field(min_length=3, max_length=300)]

    @field_validator("scopes")
    @classmethod
    def _scope_tokens(cls, value: list[str]) -> list[str]:
        for scope in value:
            if not SCOPE_TOKEN.match(scope):
                raise ValueError(f"'{scope}' is not a valid scope token (RFC 6749 §3.3)")
        return list(dict.fromkeys(value))


class Reason(Strict):
    reason: Annotated[str, Field(min_length=3, max_length=2000)]


class OptionalReason(Strict):
    reason: Annotated[str, Field(max_length=2000)] = ""


class RoleGrant(Strict):
    opd: Annotated[str, Field(min_length=1, max_length=64)]
    role: Literal["kominfo-admin", "opd-admin", "operator"]


class InitialTokenRequest(Strict):
    """Kominfo's permission for one automated registration (RFC 7591 §3), optionally bound to an OPD."""

    opd: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    ttl_seconds: Annotated[int, Field(ge=60, le=30 * 86_400)] = 7 * 86_400
