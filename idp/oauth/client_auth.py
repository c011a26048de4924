"""RFC 7523 §2.2 ``private_key_jwt`` client authentication, with the checks RFC 9700 asks for.

The assertion's ``aud`` must name this issuer or its token endpoint, it must expire within
five minutes, its ``jti`` is single use (recorded, and a replay refused, when effects apply),
and only asymmetric algorithms are accepted: no ``none``, no HMAC, no ``jku``/``jwk``/``x5u``.
"""

from __future__ import annotations

from typing import Any, cast

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization

from idp.oauth.client_jwks import client_key_set
from idp.oauth.state import current

ASSERTION_ALGORITHMS = ["ES256", "RS256", "PS256", "EdDSA"]
FAPI_ASSERTION_ALGORITHMS = ("PS256", "ES256", "EdDSA")  # FAPI 2.0 Security Profile §5.4.1
MAX_ASSERTION_LIFETIME = 300
FORBIDDEN_HEADERS = ("jku", "jwk", "x5u", "x5c")


class PrivateKeyJWT(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, issuer: str, token_endpoint: str, *other_endpoints: str) -> None:
        super().__init__(validate_jti=True, leeway=30)
        # RFC 9126 §2: the pushed authorization request endpoint is an audience too.
        self._audiences = [issuer, token_endpoint, *other_endpoints]

    def get_audiences(self) -> list[str]:
        return self._audiences

    def extract_assertion(self, assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
        headers, claims = super().extract_assertion(assertion)
        if headers.get("alg") not in ASSERTION_ALGORITHMS or any(h in headers for h in FORBIDDEN_HEADERS):
            raise InvalidClientError(description="Assertion algorithm or header not accepted.")
        current().assertion_alg = headers.get("alg")
        return headers, claims

    def authenticate_client(self, client: Any) -> Any:
        if client.row.profile == "fapi2" and current().assertion_alg not in FAPI_ASSERTION_ALGORITHMS:
            raise InvalidClientError(
                description="FAPI 2.0 clients sign assertions with PS256, ES256 or EdDSA.", status_code=401
            )
        return super().authenticate_client(client)

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description="Invalid client assertion.") from exc
        self.verify_claims(token.claims)
        now = current().now
        if int(token.claims["exp"]) > now + MAX_ASSERTION_LIFETIME:
            raise InvalidClientError(description="Client assertion lives too long.")
        return token.claims

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        state = current()
        state.effects.replay_marks.append((f"pkjwt:{claims['sub']}:{jti}", int(claims["exp"]) + 60))
        return True

    def resolve_client_public_key(self, client: Any) -> KeySet:
        keys = client_key_set(client.row)
        if not keys.get("keys"):  # a jwks_uri that could not be fetched, or an empty set
            raise InvalidClientError(description="The client's keys are not available.")
        return KeySet.import_key_set(cast(KeySetSerialization, keys))
