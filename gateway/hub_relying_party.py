"""The one OpenID Connect relying-party flow the gateway runs against the hub's own provider.

Two clients use it: the gateway for ``session`` apps (``gateway.session_auth``, client ``gerbang-gateway``, on
each app's own host) and Kominfo's console (``gateway.admin.console_auth``, client ``gerbang-console``).

1. ``begin``: a fresh ``state``, ``nonce`` and PKCE verifier (RFC 7636, S256); the authorization request's
   parameters, and the flow sealed for a short-lived cookie (HMAC under the caller's key, with its time).
2. ``open_flow`` / ``is_callback_valid``: the cookie unsealed within ``FLOW_TTL``; the callback names the same
   ``state``, the hub as ``iss`` (RFC 9207) and carries a ``code``.
3. ``redeem``: the code exchanged at the token endpoint (client_secret_basic), the ID token verified against
   the hub's keys — reloading the key ring once for a kid not loaded yet, so a rotation made by another process
   never fails a sign-in — on the provider's clock, and its ``nonce`` checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from gateway.session_client import basic_auth
from idp.clock import Clock
from idp.keys import KeyRing
from idp.oauth.verify import TokenInvalid, verify_hub_jwt_reloading

FLOW_TTL = 600
TOKEN_TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass(frozen=True)
class Flow:
    """One sign-in in progress; ``carried`` is what the caller needs back at the callback (a return path...)."""

    state: str
    nonce: str
    verifier: str
    carried: tuple[Any, ...] = ()


class HubRelyingParty:
    def __init__(
        self, keys: KeyRing, issuer: str, client_id: str, client_secret: str, flow_key: bytes, clock: Clock
    ) -> None:
        self._keys = keys
        self._issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self._flow_key = flow_key
        self._clock = clock

    def begin(
        self, redirect_uri: str, scope: str, carried: tuple[Any, ...] = (), **extra: str
    ) -> tuple[Flow, dict[str, str], str]:
        """A new flow, the authorization request's parameters (``extra`` added) and the sealed flow cookie."""
        flow = Flow(secrets.token_urlsafe(16), secrets.token_urlsafe(16), secrets.token_urlsafe(48), carried)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(flow.verifier.encode()).digest()).rstrip(b"=").decode()
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": flow.state,
            "nonce": flow.nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        return flow, params, self._seal(flow)

    def open_flow(self, sealed: str | None) -> Flow | None:
        """The flow sealed in the cookie; None when missing, altered or older than ``FLOW_TTL``."""
        if not sealed or "." not in sealed:
            return None
        payload, mac = sealed.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        values = json.loads(base64.urlsafe_b64decode(payload))
        if not isinstance(values, list) or len(values) != 5 or values[3] + FLOW_TTL < self._clock.now():
            return None
        state, nonce, verifier, _made, carried = values
        return Flow(state, nonce, verifier, tuple(carried))

    def is_callback_valid(self, flow: Flow | None, query: Mapping[str, str]) -> bool:
        """The callback belongs to this flow (``state``), comes from the hub (``iss``) and carries a ``code``."""
        return (
            flow is not None
            and hmac.compare_digest(query.get("state", ""), flow.state)
            and query.get("iss") == self._issuer
            and "code" in query
        )

    async def redeem(self, code: str, flow: Flow, redirect_uri: str) -> dict[str, Any] | None:
        """The ID token's claims (its compact form under ``_raw``), or None when the exchange or a check fails."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": flow.verifier,
            "redirect_uri": redirect_uri,
        }
        async with aiohttp.ClientSession(timeout=TOKEN_TIMEOUT) as http:
            async with http.post(
                f"{self._issuer}/auth/token",
                data=form,
                headers={"Authorization": basic_auth(self.client_id, self._client_secret)},
            ) as reply:
                if reply.status != 200:
                    return None
                tokens = await reply.json()
        try:
            claims = await verify_hub_jwt_reloading(
                self._keys, tokens["id_token"], self._issuer, typ="jwt", audience=self.client_id, now=self._clock.now()
            )
        except (TokenInvalid, KeyError):
            return None
        if claims.get("nonce") != flow.nonce:
            return None
        claims["_raw"] = tokens["id_token"]
        return claims

    def _seal(self, flow: Flow) -> str:
        values = [flow.state, flow.nonce, flow.verifier, self._clock.now(), list(flow.carried)]
        payload = base64.urlsafe_b64encode(json.dumps(values).encode()).decode()
        return f"{payload}.{self._mac(payload)}"

    def _mac(self, payload: str) -> str:
        return hmac.new(self._flow_key, payload.encode(), hashlib.sha256).hexdigest()
