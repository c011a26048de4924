"""RFC 7636 PKCE, stricter than authlib's default: every client, S256 only (RFC 9700 §2.1.1).

authlib's ``CodeChallenge`` lets confidential clients skip PKCE and accepts ``plain``.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import CODE_CHALLENGE_PATTERN, CODE_VERIFIER_PATTERN, create_s256_code_challenge


class RequiredS256CodeChallenge(CodeChallenge):
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        payload = grant.request.payload
        challenge = payload.data.get("code_challenge")
        method = payload.data.get("code_challenge_method")
        if not challenge:
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'.")
        if (
            len(payload.datalist.get("code_challenge", [])) > 1
            or len(payload.datalist.get("code_challenge_method", [])) > 1
        ):
            raise InvalidRequestError("Repeated PKCE parameter.")
        if method != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        if not CODE_CHALLENGE_PATTERN.match(challenge):
            raise InvalidRequestError("Invalid 'code_challenge'.")

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        request = grant.request
        verifier = request.form.get("code_verifier")
        # RFC 7636 §4.6: a verifier that is missing, malformed or wrong cannot prove possession of the code;
        # all three are the grant failing (invalid_grant), so a probe learns nothing from which one it was.
        if not verifier:
            raise InvalidGrantError("Missing 'code_verifier'.")
        if not CODE_VERIFIER_PATTERN.match(verifier):
            raise InvalidGrantError("Invalid 'code_verifier'.")
        code = request.authorization_code
        if code.code_challenge_method != "S256" or create_s256_code_challenge(verifier) != code.code_challenge:
            raise InvalidGrantError("Code challenge failed.")
