"""Our ``AuthorizationServer``: authlib's validation, our storage (preloaded) and our tokens."""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidScopeError

from idp.oauth.adapters import HubClient
from idp.oauth.client_auth import PrivateKeyJWT
from idp.oauth.client_profile import check_issue_profile, profile_claims
from idp.oauth.device import DeviceCodeGrant
from idp.oauth.dpop_binding import binds_refresh_tokens
from idp.oauth.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    OpenIDCodeExtension,
    RefreshTokenGrant,
    new_family,
    new_refresh_row,
)
from idp.oauth.pkce import RequiredS256CodeChallenge
from idp.oauth.request import HubRequest
from idp.oauth.state import current
from idp.oauth.token_exchange import TokenExchangeGrant
from idp.oauth.tokens import TokenMinter, new_opaque_token
from policies.watcher import PolicyWatcher

SCOPES_SUPPORTED = ["openid", "profile", "email", "opd", "nik", "nip", "offline_access"]


class HubAuthorizationServer(AuthorizationServer):
    def __init__(self, issuer: str, minter: TokenMinter, refresh_ttl: int, policies: PolicyWatcher) -> None:
        super().__init__(scopes_supported=None)
        self.issuer = issuer
        self.policies = policies
        self.minter = minter
        self.refresh_ttl = refresh_ttl
        self.register_token_generator("default", self._generate_token)
        self.register_grant(
            AuthorizationCodeGrant, [RequiredS256CodeChallenge(required=True), OpenIDCodeExtension(minter)]
        )
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(DeviceCodeGrant)
        self.register_grant(TokenExchangeGrant)
        self.register_client_auth_method(
            "private_key_jwt", PrivateKeyJWT(issuer, f"{issuer}/auth/token", f"{issuer}/auth/par")
        )

    def authenticate_client(self, request: Any, methods: list[str], endpoint: str = "token") -> Any:
        if not request.headers.get("Authorization", "").isascii():
            # authlib base64-decodes Basic credentials unguarded: non-ASCII would be a 500 (RFC 7617 §2: ASCII).
            raise InvalidClientError(description="Malformed client credentials.", status_code=401)
        try:
            return super().authenticate_client(request, methods, endpoint)
        except UnicodeDecodeError as exc:
            # authlib decodes Basic credentials as UTF-8 unguarded: other bytes would be a 500.
            raise InvalidClientError(description="Malformed client credentials.", status_code=401) from exc

    def query_client(self, client_id: str) -> HubClient | None:
        row = current().clients.get(client_id)
        if row is None or row.status != "active":
            return None
        return HubClient(row)

    def validate_requested_scope(self, scope: str | None) -> None:
        """Every requested scope must be registered for the client and allowed to it by Kominfo's policies."""
        client = current().client_row
        if not scope or client is None:
            return
        requested = scope.split()
        allowed = set(self.policies.current.allowed_scopes(client.client_id, requested))
        if not set(requested) <= set(client.scope.split()) or not set(requested) <= allowed:
            raise InvalidScopeError()

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        """Persistence happens in ``_generate_token`` via effects; nothing else to do here."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        if name == "after_authenticate_client":
            current().client_row = kwargs["client"].row

    def create_oauth2_request(self, request: HubRequest) -> HubRequest:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, list(headers)

    def _generate_token(
        self,
        grant_type: str,
        client: HubClient,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        state = current()
        now = state.now
        resources: list[str] = state.resources or []
        audience = resources or [self.issuer]
        scope = scope or ""
        jkt = state.dpop_jkt
        check_issue_profile(self.policies.current, client.row, audience)
        # RFC 9449 §6: a DPoP-bound access token carries the key's thumbprint and is of type DPoP.
        bound = {**({"cnf": {"jkt": jkt}} if jkt else {}), **profile_claims(client.row)} or None
        token_type = "DPoP" if jkt else "Bearer"
        if grant_type == "client_credentials":
            minted = self.minter.access_token(
                client_id=client.client_id, sub=client.client_id, scope=scope, audience=audience, extra=bound
            )
            return {
                "access_token": minted.value,
                "token_type": token_type,
                "expires_in": minted.expires_in,
                "scope": scope,
            }
        if grant_type in ("authorization_code", DeviceCodeGrant.GRANT_TYPE):  # a new token family
            code = state.redeemed_code
            assert code is not None  # set by the grant's validation
            refresh_jkt = jkt if binds_refresh_tokens(client.row) else None
            grant = new_family(
                client.client_id, user.id, scope, list(code.resources), code, now, self.refresh_ttl, refresh_jkt
            )
            state.effects.new_grant = grant
        else:
            redeemed = state.redeemed_grant
            assert redeemed is not None  # set by the refresh grant's validation
            grant = redeemed
        minted = self.minter.access_token(
            client_id=client.client_id,
            sub=user.id,
            scope=scope,
            audience=audience,
            auth_time=grant.auth_time,
            acr=grant.acr,
            amr=list(grant.amr),
            extra=bound,
        )
        state.effects.access_jtis.append((minted.jti, grant.id, client.client_id, minted.expires_at))
        token = {
            "access_token": minted.value,
            "token_type": token_type,
            "expires_in": minted.expires_in,
            "scope": scope,
        }
        if include_refresh_token:
            value, token_digest = new_opaque_token()
            state.effects.new_refresh = new_refresh_row(token_digest, grant.id, now, grant.expires_at)
            token["refresh_token"] = value
        return token
