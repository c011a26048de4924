"""Who is calling SCIM: an RFC 9068 access token of this hub for the SCIM resource (``{issuer}/scim/v2/``),
carrying the ``scim`` scope, issued to an active client that Kominfo placed in an OPD unit. The client
provisions that unit's subtree only (a Dinkes client never sees Bapenda's staff)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from idp.clients import load_client_unit
from idp.oauth.store import is_jti_revoked
from idp.oauth.verify import TokenInvalid, verify_hub_jwt_reloading
from idp.provider import Provider
from idp.scim.responses import ScimError

SCOPE = "scim"


@dataclass(frozen=True)
class ScimCaller:
    client_id: str
    subtree: str  # the OPD path prefix this client provisions ("/kota-palembang/dinkes/")
    unit_slug: str

    @property
    def actor(self) -> str:
        return f"client:{self.client_id}"


def scim_resource(issuer: str) -> str:
    return f"{issuer}/scim/v2/"


def _challenge(status: int, detail: str, error: str) -> ScimError:
    return ScimError(status, detail, headers={"WWW-Authenticate": f'Bearer realm="gerbang-scim", error="{error}"'})


async def authenticate(request: Request, provider: Provider) -> ScimCaller:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ScimError(401, "A bearer token is required.", headers={"WWW-Authenticate": 'Bearer realm="gerbang-scim"'})
    try:
        claims = await verify_hub_jwt_reloading(
            provider.keys,
            token.strip(),
            provider.issuer,
            typ="at+jwt",
            audience=scim_resource(provider.issuer),
            now=provider.clock.now(),
        )
    except TokenInvalid as exc:
        raise _challenge(401, "The access token is not valid.", "invalid_token") from exc
    if SCOPE not in str(claims.get("scope", "")).split():
        raise _challenge(403, "The token lacks the scim scope.", "insufficient_scope")
    async with provider.sessionmaker() as session:
        if await is_jti_revoked(session, str(claims.get("jti"))):
            raise _challenge(401, "The access token was revoked.", "invalid_token")
        found = await load_client_unit(session, str(claims.get("client_id")))
    if found is None or found.status != "active":
        raise _challenge(
            403, "This client may not provision: it has no OPD unit or is not active.", "insufficient_scope"
        )
    return ScimCaller(str(claims["client_id"]), found.path, found.slug)
