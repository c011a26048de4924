"""RFC 9449 at the token endpoint: which grants need a proof, and which key a code or a refresh token is bound to.

Called from the grants once the client is authenticated; the proof itself was checked before authlib ran
(``idp.dpop.guard``) and its thumbprint is in ``current().dpop_jkt``.
"""

from __future__ import annotations

import re
from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, OAuth2Error

from idp.storage.models import Client

JKT = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url SHA-256


class InvalidDpopProofError(OAuth2Error):
    """RFC 9449 §5: the proof is missing or unacceptable."""

    error = "invalid_dpop_proof"


def requires_dpop(client: Client) -> bool:
    """``dpop_bound_access_tokens`` (RFC 9449 §5.2), implied by the FAPI 2.0 profile."""
    return client.dpop_bound or client.profile == "fapi2"


def binds_refresh_tokens(client: Client) -> bool:
    """§5: a public client's refresh tokens are bound to its key; FAPI 2.0 clients' too."""
    return client.auth_method == "none" or client.profile == "fapi2"


def check_dpop_jkt_parameter(value: str | None) -> None:
    """§10: ``dpop_jkt`` in an authorization request is a SHA-256 JWK thumbprint."""
    if value is not None and not JKT.fullmatch(value):
        raise InvalidRequestError("dpop_jkt must be a JWK SHA-256 thumbprint.")


def check_token_binding(client: Client, presented: Any, bound: str | None) -> None:
    """Refuse a token request whose proof is missing where required, or made with another key than the bound one."""
    if presented is None and (requires_dpop(client) or bound):
        raise InvalidDpopProofError("A DPoP proof is required.")
    if bound and presented != bound:
        raise InvalidGrantError("The grant is bound to another DPoP key.")
