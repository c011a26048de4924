"""RFC 8628 device authorization grant: codes, and the token endpoint's polling grant.

A user code is 8 letters from an alphabet without vowels or look-alikes (§6.1: "BCDFGHJKLMNPQRSTVWXZ", 20^8
codes, shown as ``BCDF-GHJK``); typing is forgiving (case, dashes and spaces are ignored). Codes live
``DEVICE_CODE_TTL`` seconds. Polling faster than ``interval`` answers ``slow_down`` and adds 5 s to the interval
(§3.5); every poll is recorded, even a refused one.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from authlib.oauth2.rfc6749 import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    UnauthorizedClientError,
    grants,
)
from authlib.oauth2.rfc8628 import DEVICE_CODE_GRANT_TYPE, AuthorizationPendingError, ExpiredTokenError, SlowDownError

from idp.oauth.dpop_binding import check_token_binding
from idp.oauth.state import current
from idp.oauth.tokens import digest
from idp.storage.models import DeviceCode

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
DEVICE_CODE_TTL = 600
POLL_INTERVAL = 5


def new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def normalize_user_code(typed: str) -> str | None:
    """What the person typed, as stored; None when it cannot be a user code."""
    code = "".join(ch for ch in typed.upper() if ch not in " -\t")
    if len(code) != USER_CODE_LENGTH or any(ch not in USER_CODE_ALPHABET for ch in code):
        return None
    return code


def display_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def new_device_code(client_id: str, scope: str, resources: list[str], now: int) -> tuple[str, DeviceCode]:
    device_code = secrets.token_urlsafe(32)
    return device_code, DeviceCode(
        code_digest=digest(device_code),
        user_code=new_user_code(),
        client_id=client_id,
        scope=scope,
        resources=resources,
        created_at=now,
        expires_at=now + DEVICE_CODE_TTL,
        interval=POLL_INTERVAL,
        status="pending",
        family_id=str(uuid.uuid4()),
        amr=[],
    )


class DeviceCodeGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    """§3.4–3.5: the device polls with its device code until the person has approved or denied."""

    GRANT_TYPE = DEVICE_CODE_GRANT_TYPE
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]

    def validate_token_request(self) -> None:
        device_code = self.request.payload.data.get("device_code")
        if not device_code:
            raise InvalidRequestError("Missing 'device_code'.")
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(f"The client may not use the {self.GRANT_TYPE} grant.")
        state = current()
        row, now = state.device, state.now
        if row is None or row.code_digest != digest(device_code) or row.client_id != client.client_id:
            raise InvalidGrantError("Unknown device code.")
        if row.expires_at <= now:
            raise ExpiredTokenError()
        if row.status == "denied":
            raise AccessDeniedError("The person denied the request.")
        if row.status == "redeemed":
            raise InvalidGrantError("The device code was already used.")
        too_fast = row.last_polled_at is not None and now - row.last_polled_at < row.interval
        state.effects.device_polled = (row.code_digest, too_fast)
        if too_fast:
            raise SlowDownError()
        if row.status != "approved":
            raise AuthorizationPendingError()
        check_token_binding(client.row, state.dpop_jkt, None)
        user = state.user
        if user is None or user.disabled or user.id != row.user_id:
            raise InvalidGrantError("The device code is no longer valid.")
        self.request.client, self.request.user = client, user
        state.resources = list(row.resources)
        state.redeemed_code = row
        state.sid = row.session_id

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        row = current().redeemed_code
        assert isinstance(row, DeviceCode)  # set by validate_token_request
        client = self.request.client
        token = self.generate_token(
            user=self.request.user, scope=row.scope, include_refresh_token="refresh_token" in client.row.grant_types
        )
        current().effects.redeem_device = row.code_digest
        if "openid" in row.scope.split():
            token["id_token"] = self.server.minter.id_token(
                client_id=client.client_id,
                user=self.request.user,
                scope=row.scope,
                auth_time=row.auth_time,
                acr=row.acr,
                amr=list(row.amr),
                nonce=None,
                sid=row.session_id,
                access_token=token.get("access_token"),
                alg=client.row.id_token_alg,
            )
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER
