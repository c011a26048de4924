"""RFC 8693 token exchange, for OPD-to-OPD calls on behalf of a signed-in person (e-budgeting calling BPKAD as
the official): only when Kominfo's policy allows the calling client that audience, only downscoping.

The subject token is one of the hub's access tokens, alive and not revoked, held by the calling client: issued to
it, or meant for one of its apps (so the app a token was exchanged for can exchange it onwards). The new token is
for exactly one audience, carries ``act`` naming the calling client (nested over the subject's own ``act``: the
delegation chain, §4.1), no refresh token, and a DPoP binding when a proof came with the request. Each exchange is
a grant in the person's access history and an entry in the audit chain.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
    grants,
)
from sqlalchemy.ext.asyncio import AsyncSession

from idp.access_history import load_active_apps_of_clients
from idp.keys import KeyRing
from idp.oauth.client_profile import check_issue_profile, profile_claims
from idp.oauth.dpop_binding import check_token_binding
from idp.oauth.resource import requested_resources
from idp.oauth.state import Preloaded, current
from idp.oauth.store import is_jti_revoked
from idp.oauth.verify import TokenInvalid, verify_hub_jwt_reloading
from idp.storage.models import Grant, User

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


class InvalidTargetError(OAuth2Error):
    """RFC 8693 §2.2.2: the audience or resource is not acceptable."""

    error = "invalid_target"


@dataclass(frozen=True)
class Exchange:
    audience: str
    scope: str
    rule: str
    subject: dict[str, Any]


async def preload_subject(
    session: AsyncSession,
    keys: KeyRing,
    issuer: str,
    form: dict[str, list[str]],
    candidates: set[str],
    state: Preloaded,
) -> None:
    """The verified subject token, its user, and the resources of the candidate clients' apps."""
    token = form.get("subject_token", [""])[0]
    now = state.now
    try:
        claims = await verify_hub_jwt_reloading(keys, token, issuer, typ="at+jwt", now=now) if token else None
    except TokenInvalid:
        claims = None
    if claims is not None and await is_jti_revoked(session, str(claims.get("jti"))):
        claims = None
    state.subject_claims = claims
    if claims is not None:
        state.user = await session.get(User, str(claims.get("sub")))
    apps = await load_active_apps_of_clients(session, candidates)
    state.app_resources = {(str(client_id), resource or f"{issuer}/apps/{slug}/") for client_id, slug, resource in apps}


class TokenExchangeGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    GRANT_TYPE = TOKEN_EXCHANGE
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def validate_token_request(self) -> None:
        data, datalist = self.request.payload.data, self.request.payload.datalist
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(f"The client may not use the {self.GRANT_TYPE} grant.")
        if data.get("subject_token_type") != ACCESS_TOKEN_TYPE or not data.get("subject_token"):
            raise InvalidRequestError(f"subject_token_type must be {ACCESS_TOKEN_TYPE}.")
        if data.get("requested_token_type") not in (None, ACCESS_TOKEN_TYPE) or "actor_token" in data:
            raise InvalidRequestError("Only access tokens are issued; the calling client is the actor.")
        state = current()
        claims = state.subject_claims
        if claims is None or not self._is_held_by(claims, client.client_id, state):
            raise InvalidGrantError("The subject token is not valid for this client.")
        user = state.user
        if user is None or user.disabled or claims.get("sub") == claims.get("client_id"):
            raise InvalidGrantError("The subject token names no person who can be represented.")
        targets = [*requested_resources(datalist), *datalist.get("audience", [])]
        if len(targets) != 1:
            raise InvalidTargetError("Name exactly one target: one resource or one audience.")
        rule = self.server.policies.current.allowed_exchange(client.client_id, targets[0])
        if rule is None:
            raise InvalidTargetError("The city's policy does not allow this exchange.")
        held = str(claims.get("scope", "")).split()
        asked = data["scope"].split() if data.get("scope") else held
        if not set(asked) <= set(held):
            raise InvalidScopeError("A token exchange can only narrow the scope.")
        scope = " ".join(self.server.policies.current.allowed_scopes(client.client_id, asked))
        check_token_binding(client.row, state.dpop_jkt, None)
        check_issue_profile(self.server.policies.current, client.row, [targets[0]])
        self.request.client, self.request.user = client, user
        state.exchange = Exchange(targets[0], scope, rule, claims)

    @staticmethod
    def _is_held_by(claims: dict[str, Any], client_id: str, state: Preloaded) -> bool:
        audience = claims.get("aud")
        audiences = {audience} if isinstance(audience, str) else set(audience or ())
        own = {resource for owner, resource in state.app_resources if owner == client_id}
        return claims.get("client_id") == client_id or bool(audiences & own)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        state = current()
        plan = state.exchange
        assert plan is not None  # set by validate_token_request
        caller, subject, now = self.request.client.client_id, plan.subject, state.now
        act: dict[str, Any] = {"sub": caller}
        if isinstance(subject.get("act"), dict):
            act["act"] = subject["act"]
        extra: dict[str, Any] = {"act": act, **profile_claims(self.request.client.row)}
        jkt = state.dpop_jkt
        if jkt:
            extra["cnf"] = {"jkt": jkt}
        minted = self.server.minter.access_token(
            client_id=caller,
            sub=self.request.user.id,
            scope=plan.scope,
            audience=[plan.audience],
            auth_time=subject.get("auth_time"),
            acr=subject.get("acr"),
            amr=list(subject.get("amr") or []),
            extra=extra,
        )
        grant = Grant(
            id=str(uuid.uuid4()),
            client_id=caller,
            user_id=self.request.user.id,
            scope=plan.scope,
            resources=[plan.audience],
            auth_time=subject.get("auth_time"),
            acr=subject.get("acr"),
            amr=list(subject.get("amr") or []),
            created_at=now,
            expires_at=minted.expires_at,
        )
        state.effects.new_grant = grant
        state.effects.access_jtis.append((minted.jti, grant.id, caller, minted.expires_at))
        state.effects.audit.append(
            {
                "actor": f"client:{caller}",
                "action": "token.exchange",
                "target": f"user:{self.request.user.id}",
                "detail": {
                    "audience": plan.audience,
                    "scope": plan.scope,
                    "act": act,
                    "rule": plan.rule,
                    "subject_jti": subject.get("jti"),
                    "subject_client": subject.get("client_id"),
                    "jti": minted.jti,
                },
            }
        )
        body = {
            "access_token": minted.value,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "DPoP" if jkt else "Bearer",
            "expires_in": minted.expires_in,
            "scope": plan.scope,
        }
        return 200, body, self.TOKEN_RESPONSE_HEADER
