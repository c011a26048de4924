"""OpenID Connect Discovery 1.0 and RFC 8414 metadata, built once and served from memory."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from idp.dpop.proof import PROOF_ALGS
from idp.keys import companion_algs
from idp.oauth.request_object import REQUEST_OBJECT_ALGS
from idp.oauth.server import SCOPES_SUPPORTED


def build_metadata(issuer: str, signing_alg: str, require_par: bool = False) -> dict[str, Any]:
    base = f"{issuer}/auth"
    algs = ["ES256", "RS256"]
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "jwks_uri": f"{base}/jwks",
        "revocation_endpoint": f"{base}/revoke",
        "introspection_endpoint": f"{base}/introspect",
        "end_session_endpoint": f"{base}/logout",
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "registration_endpoint": f"{base}/clients",  # RFC 7591; needs an initial access token from Kominfo
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ],
        "device_authorization_endpoint": f"{base}/device_authorization",
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [signing_alg, *companion_algs(signing_alg)],
        "userinfo_signing_alg_values_supported": [],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256", "PS256", "EdDSA"],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "amr",
            "nonce",
            "sid",
            "name",
            "preferred_username",
            "email",
            "email_verified",
            "opd",
            "roles",
            "nik",
            "nip",
        ],
        "claims_parameter_supported": False,
        "request_parameter_supported": True,  # RFC 9101, signed only
        "request_uri_parameter_supported": False,  # only the request_uri of a pushed request (RFC 9126)
        "request_object_signing_alg_values_supported": REQUEST_OBJECT_ALGS,
        "pushed_authorization_request_endpoint": f"{base}/par",
        "require_pushed_authorization_requests": require_par,
        "dpop_signing_alg_values_supported": list(PROOF_ALGS),
        "prompt_values_supported": ["none", "login", "consent", "create"],
        "acr_values_supported": ["1", "2"],
        "ui_locales_supported": ["id", "en"],
        "authorization_response_iss_parameter_supported": True,
        "access_token_signing_alg_values_supported": algs,
        "resource_indicators_supported": True,
    }


def metadata_endpoint(metadata: dict[str, Any]) -> Callable[[Request], Awaitable[Response]]:
    body = json.dumps(metadata, separators=(",", ":")).encode()
    headers = {"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"}

    async def endpoint(_request: Request) -> Response:
        return Response(body, media_type="application/json", headers=headers)

    return endpoint
