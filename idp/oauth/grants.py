"""The grants we allow: authorization_code (+PKCE S256, +OpenID), refresh_token (rotating), client_credentials.

No implicit, hybrid or password grant (RFC 9700 §2.1.2, §2.4). Hooks read ``state.current()``
(preloaded before authlib runs) and record writes in its ``effects``.
"""

from __future__ import annotations

import uuid
from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidScopeError, OAuth2Error, grants
from authlib.oidc.core import OpenIDCode

from idp.oauth.adapters import CodeRecord, RefreshRecord
from idp.oauth.client_profile import check_issue_profile
from idp.oauth.dpop_binding import check_dpop_jkt_parameter, check_token_binding
from idp.oauth.resource import check_resources_allowed, narrow_resources, requested_resources
from idp.oauth.session_binding import does_refresh_stand, is_bound_to_session
from idp.oauth.state import current
from idp.oauth.tokens import digest, user_claims
from idp.sessions import TOUCH_INTERVAL
from idp.storage.models import Grant, RefreshToken

TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def validate_authorization_request(self) -> str:
        redirect_uri = super().validate_authorization_request()
        resources = requested_resources(self.request.payload.datalist)
        try:
            check_resources_allowed(resources, self.request.client.row.resources)
            check_issue_profile(self.server.policies.current, self.request.client.row, resources)
            check_dpop_jkt_parameter(self.request.payload.data.get("dpop_jkt"))
        except OAuth2Error as error:
            error.redirect_uri = redirect_uri
            raise
        return redirect_uri

    def save_authorization_code(self, code: str, request: Any) -> None:
        state = current()
        login = state.login
        assert login is not None  # the authorization endpoint sets it before authlib runs
        data = request.payload.data
        state.effects.new_code = {
            "code_digest": digest(code),
            "client_id": request.client.client_id,
            "user_id": request.user.id,
            "session_id": login.sid,
            "redirect_uri": request.payload.redirect_uri,
            "scope": request.scope or "",
            "nonce": data.get("nonce"),
            "code_challenge": data["code_challenge"],
            "code_challenge_method": data["code_challenge_method"],
            "resources": requested_resources(request.payload.datalist),
            "auth_time": login.auth_time,
            "acr": login.acr,
            "amr": login.amr,
            "family_id": str(uuid.uuid4()),
            "expires_at": state.now + state.code_ttl,
            "dpop_jkt": data.get("dpop_jkt"),
        }

    def query_authorization_code(self, code: str, client: Any) -> CodeRecord | None:
        state = current()
        row = state.code
        if row is None or row.code_digest != digest(code) or row.client_id != client.client_id:
            return None
        if row.redeemed_at is not None:
            # RFC 6749 §4.1.2: a code used twice revokes what it issued.
            state.effects.revoke_grant = row.family_id
            return None
        if row.expires_at <= state.now:
            return None
        return CodeRecord(row)

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        current().effects.redeem_code = authorization_code.row.code_digest

    def authenticate_user(self, authorization_code: CodeRecord) -> Any:
        user = current().user
        if user is None or user.disabled or user.id != authorization_code.row.user_id:
            return None
        return user

    def validate_token_request(self) -> None:
        super().validate_token_request()
        code = self.request.authorization_code.row
        check_token_binding(self.request.client.row, current().dpop_jkt, code.dpop_jkt)
        resources = narrow_resources(requested_resources(self.request.payload.datalist), list(code.resources))
        current().resources = resources
        current().redeemed_code = code
        current().sid = code.session_id


class OpenIDCodeExtension(OpenIDCode):
    def __init__(self, minter: Any) -> None:
        super().__init__(require_nonce=False)
        self.minter = minter

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        # Only issued codes count: the consent page and the response validate the same request twice.
        return current().nonce_seen

    def generate_user_info(self, user: Any, scope: str) -> dict[str, Any]:
        return user_claims(user, scope)

    def encode_id_token(self, token: dict[str, Any], request: Any) -> str:
        code = request.authorization_code.row
        return self.minter.id_token(
            client_id=request.client.client_id,
            user=request.user,
            scope=token["scope"],
            auth_time=code.auth_time,
            acr=code.acr,
            amr=list(code.amr),
            nonce=code.nonce,
            sid=current().sid,
            access_token=token.get("access_token"),
            alg=request.client.row.id_token_alg,
        )


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation on every use (RFC 9700 §2.2.2)

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        state = current()
        row, grant = state.refresh, state.grant
        if row is None or grant is None or row.token_digest != digest(refresh_token):
            return None
        if row.rotated_at is not None:
            # A rotated token came back: someone holds a copy. Revoke the whole family.
            state.effects.revoke_grant = grant.id
            return None
        now = state.now
        assert state.refresh_lifetimes is not None  # the token endpoint sets it before authlib runs
        if not does_refresh_stand(grant, row, state.browser_session, now, state.refresh_lifetimes):
            return None
        session = state.browser_session
        if is_bound_to_session(grant) and (session is None or now - session.last_seen >= TOUCH_INTERVAL):
            state.effects.touch_session = grant.session_id  # a refresh is a use of the sign-in it came from
        return RefreshRecord(row, grant, now)

    def authenticate_user(self, refresh_token: RefreshRecord) -> Any:
        user = current().user
        if user is None or user.disabled or user.password_changed_at > refresh_token.grant.created_at:
            # authlib would answer invalid_request; a refresh token that no longer stands is invalid_grant (§5.2).
            raise InvalidGrantError("The refresh token is no longer valid.")
        return user

    def validate_token_request(self) -> None:
        super().validate_token_request()
        grant = self.request.refresh_token.grant
        check_token_binding(self.request.client.row, current().dpop_jkt, grant.dpop_jkt)
        resources = narrow_resources(requested_resources(self.request.payload.datalist), list(grant.resources))
        current().resources = resources
        current().redeemed_grant = grant

    def revoke_old_credential(self, refresh_token: RefreshRecord) -> None:
        current().effects.rotate_refresh = refresh_token.row.token_digest


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def validate_token_request(self) -> None:
        super().validate_token_request()
        client = self.request.client
        scope = self.request.payload.scope
        if scope and "openid" in scope.split():
            raise InvalidScopeError("'openid' needs a user.")
        resources = requested_resources(self.request.payload.datalist)
        check_resources_allowed(resources, client.row.resources)
        check_token_binding(client.row, current().dpop_jkt, None)
        current().resources = resources


def new_family(
    client_id: str,
    user_id: str,
    scope: str,
    resources: list[str],
    code: Any,
    now: int,
    ttl: int,
    dpop_jkt: str | None = None,
) -> Grant:
    return Grant(
        id=code.family_id,
        client_id=client_id,
        user_id=user_id,
        session_id=code.session_id,
        scope=scope,
        resources=resources,
        auth_time=code.auth_time,
        acr=code.acr,
        amr=list(code.amr),
        created_at=now,
        expires_at=now + ttl,
        dpop_jkt=dpop_jkt,
    )


def new_refresh_row(token_digest: str, grant_id: str, now: int, expires_at: int) -> RefreshToken:
    return RefreshToken(token_digest=token_digest, grant_id=grant_id, issued_at=now, expires_at=expires_at)
