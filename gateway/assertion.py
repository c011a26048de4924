"""Verifying ``X-Gerbang-Assertion`` in an OPD app: ASGI and WSGI middleware, and the verifier under them.

Self-contained on purpose: this module imports only pyjwt, cryptography and the standard library, so an OPD
app can install ``pyjwt[crypto]`` and copy this one file without installing the hub. Integration::

    from gateway.assertion import GerbangAssertionMiddleware          # or GerbangAssertionWSGIMiddleware
    app = GerbangAssertionMiddleware(app, issuer="https://gerbang.palembang.go.id",
                                     audience="https://parkir.apps.palembang.go.id/")  # the app's origin + "/"

Rules (docs/assertion.md restates them for other languages): a compact JWS whose header has ``typ``
``gerbang-assertion+jwt``, ``alg`` ES256 or RS256, a ``kid`` of the hub's JWKS, and no ``jku``/``jwk``/``x5u``/
``x5c``/``crit``; a valid signature by that key; ``iss`` equal to the hub; ``aud`` equal to (or containing) this
app's resource identifier; ``exp`` in the future and ``iat`` not in the future (5 s leeway); ``exp - iat`` at
most 60 s; a ``jti``. A request without an assertion gets 401, one with an unacceptable assertion 403.

Apps whose integrity mode is ``signed`` or ``ledger`` also check the hub's RFC 9421 signature over the method, target,
body digest, assertion and request id (``gateway/integrity/http_signatures.py``, copied beside this file)::

    verifier = AssertionVerifier(issuer=..., audience=...)
    app = GerbangAssertionMiddleware(app, verifier, signatures=MessageSignatureVerifier(
        verifier.message_key, origins=["https://e-budgeting.apps.palembang.go.id"]))

The body is then read whole (up to ``max_body_bytes``, 413 past) and checked before the app sees any of it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt

HEADER = "x-gerbang-assertion"
TYP = "gerbang-assertion+jwt"
ALLOWED_ALGS = {"ES256": "EC", "RS256": "RSA"}
FORBIDDEN_HEADERS = ("jku", "jwk", "x5u", "x5c", "crit")
MAX_LIFETIME = 60


class AssertionRejected(Exception):
    """The request did not come through the hub (or not for this app); ``status`` is 401 or 403."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class GerbangIdentity:
    """Who the hub says is calling. ``sub`` is None for an anonymous caller of a public app."""

    sub: str | None
    client_id: str | None
    opd: str | None
    roles: tuple[str, ...]
    acr: str | None
    jti: str
    expires_at: int
    claims: dict[str, Any] = field(repr=False, compare=False)

    @property
    def anonymous(self) -> bool:
        return self.sub is None and self.client_id is None


class AssertionVerifier:
    """Checks assertions against the hub's JWKS (fetched from ``jwks_url``, or given as ``jwks``).

    Keys are cached; an unknown ``kid`` refetches the JWKS at most once per ``min_refresh_seconds`` (so
    made-up ``kid`` values cannot make the app hammer the hub), and the set is refetched after ``max_age``.
    The hub reuses an assertion for a few seconds, so verified ones are remembered (up to ``cache_size``,
    each until its ``exp``): a repeat costs a dict hit instead of a signature check.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        jwks: dict[str, Any] | None = None,
        leeway: int = 5,
        max_lifetime: int = MAX_LIFETIME,
        min_refresh_seconds: float = 10.0,
        max_age_seconds: float = 300.0,
        timeout: float = 3.0,
        cache_size: int = 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.jwks_url = jwks_url or (None if jwks is not None else f"{self.issuer}/auth/jwks")
        self._leeway = leeway
        self._max_lifetime = min(max_lifetime, MAX_LIFETIME)
        self._min_refresh = min_refresh_seconds
        self._max_age = max_age_seconds
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[str, Any]] = _parse_jwks(jwks) if jwks is not None else {}
        self._fetched_at = time.monotonic() if jwks is not None else -float("inf")
        self._attempted_at = -float("inf")
        self._cache_size = cache_size
        self._verified: dict[str, GerbangIdentity] = {}
        self._message_keys: dict[str, Any] = _parse_message_keys(jwks) if jwks is not None else {}
        self.fetches = 0

    def message_key(self, kid: str) -> Any:
        """The hub's RFC 9421 message-signing public key ``kid`` (None when the JWKS has no such message key)."""
        if kid not in self._message_keys and self.jwks_url is not None:
            self._refresh()
        return self._message_keys.get(kid)

    def needs_message_key(self, kid: str | None) -> bool:
        return bool(kid) and kid not in self._message_keys and self.jwks_url is not None

    def verify(self, token: str | None) -> GerbangIdentity:
        """Synchronous (WSGI): may fetch the JWKS with urllib when a key is unknown."""
        identity = self._remembered(token)
        if identity is not None:
            return identity
        alg, kid = _check_header(token)
        if self._needs_fetch(kid):
            self._refresh()
        return self._remember(token or "", self._check(token or "", alg, kid))

    async def verify_async(self, token: str | None) -> GerbangIdentity:
        """Asynchronous (ASGI): a needed JWKS fetch runs in a worker thread, off the event loop."""
        identity = self._remembered(token)
        if identity is not None:
            return identity
        alg, kid = _check_header(token)
        if self._needs_fetch(kid):
            await asyncio.to_thread(self._refresh)
        return self._remember(token or "", self._check(token or "", alg, kid))

    def _remembered(self, token: str | None) -> GerbangIdentity | None:
        identity = self._verified.get(token) if token else None
        if identity is not None and identity.expires_at + self._leeway > self._clock():
            return identity
        return None

    def _remember(self, token: str, identity: GerbangIdentity) -> GerbangIdentity:
        if self._cache_size <= 0:
            return identity
        if len(self._verified) >= self._cache_size:
            self._verified.clear()  # simple and thread-safe; the hub re-sends each assertion only for seconds
        self._verified[token] = identity
        return identity

    def _needs_fetch(self, kid: str) -> bool:
        if self.jwks_url is None:
            return False
        # Even when the refetch gate is closed, go through ``_refresh``: it waits for a fetch in flight.
        return kid not in self._keys or time.monotonic() - self._fetched_at > self._max_age

    def _refresh(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._attempted_at < self._min_refresh:
                return
            self._attempted_at = now
            self.fetches += 1
            try:
                document = _fetch_json(self.jwks_url or "", self._timeout)
                self._keys, self._message_keys = _parse_jwks(document), _parse_message_keys(document)
                self._fetched_at = now
            except (OSError, ValueError):
                pass  # keep the keys we have; an unknown kid stays unknown

    def _check(self, token: str, alg: str, kid: str) -> GerbangIdentity:
        found = self._keys.get(kid)
        if found is None or found[0] != alg:
            raise AssertionRejected("the assertion was not signed by a key of the hub")
        try:
            claims = jwt.decode(
                token,
                found[1],
                algorithms=[alg],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise AssertionRejected("the assertion signature is invalid") from exc
        self._check_claims(claims)
        return _build_identity(claims)

    def _check_claims(self, claims: dict[str, Any]) -> None:
        for name in ("iat", "exp"):
            if not isinstance(claims.get(name), int) or isinstance(claims.get(name), bool):
                raise AssertionRejected(f"the assertion has no valid {name}")
        if not isinstance(claims.get("jti"), str):
            raise AssertionRejected("the assertion has no jti")
        if claims.get("iss") != self.issuer:
            raise AssertionRejected("the assertion was issued by someone else (iss)")
        aud = claims.get("aud")
        if not (aud == self.audience or (isinstance(aud, list) and self.audience in aud)):
            raise AssertionRejected("the assertion is meant for another app (aud)")
        now = int(self._clock())
        if claims["exp"] + self._leeway <= now:
            raise AssertionRejected("the assertion has expired")
        if claims["iat"] - self._leeway > now:
            raise AssertionRejected("the assertion was issued in the future (iat)")
        if claims["exp"] - claims["iat"] > self._max_lifetime:
            raise AssertionRejected("the assertion lives longer than allowed")


def read_jose_header(token: str) -> dict[str, Any]:
    """A compact JWS's header, read before any key is looked up (the hub's token verifier uses it too).
    ValueError when the token is not three segments or its header is not a JSON object."""
    if token.count(".") != 2:
        raise ValueError("not a signed JWT")
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValueError("malformed header") from exc
    if not isinstance(header, dict):
        raise ValueError("malformed header")
    return header


def _check_header(token: str | None) -> tuple[str, str]:
    if not token:
        raise AssertionRejected("this app is reachable only through Gerbang", status=401)
    if token.count(".") != 2:
        raise AssertionRejected("the assertion is not a signed JWT")
    try:
        header = read_jose_header(token)
    except ValueError as exc:
        raise AssertionRejected("the assertion header is malformed") from exc
    if header.get("alg") not in ALLOWED_ALGS:
        raise AssertionRejected("the assertion algorithm is not accepted")
    if str(header.get("typ", "")).lower() != TYP:
        raise AssertionRejected("the assertion has the wrong type (typ)")
    if any(name in header for name in FORBIDDEN_HEADERS):
        raise AssertionRejected("the assertion header names its own key or extensions")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AssertionRejected("the assertion header has no key id (kid)")
    return header["alg"], kid


def _parse_jwks(jwks: Any) -> dict[str, tuple[str, Any]]:
    keys: dict[str, tuple[str, Any]] = {}
    for jwk in jwks.get("keys", []) if isinstance(jwks, dict) else []:
        if not isinstance(jwk, dict) or "d" in jwk or jwk.get("use", "sig") != "sig" or "gerbang_use" in jwk:
            continue  # a key marked gerbang_use signs HTTP messages (gateway.integrity.http_signatures), never a JWS
        kid, alg = jwk.get("kid"), jwk.get("alg")
        if isinstance(kid, str) and alg in ALLOWED_ALGS and jwk.get("kty") == ALLOWED_ALGS[alg]:
            try:
                keys[kid] = (alg, jwt.PyJWK(jwk, algorithm=alg).key)
            except (jwt.PyJWTError, ValueError, TypeError):
                continue
    return keys


def _parse_message_keys(jwks: Any) -> dict[str, Any]:
    """The keys marked ``gerbang_use: http-message`` (P-256): they sign requests, never an assertion."""
    keys: dict[str, Any] = {}
    for jwk in jwks.get("keys", []) if isinstance(jwks, dict) else []:
        if (
            isinstance(jwk, dict)
            and jwk.get("gerbang_use") == "http-message"
            and jwk.get("kty") == "EC"
            and jwk.get("crv") == "P-256"
            and "d" not in jwk
            and isinstance(jwk.get("kid"), str)
        ):
            try:
                keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm="ES256").key
            except (jwt.PyJWTError, ValueError, TypeError):
                continue
    return keys


def _fetch_json(url: str, timeout: float) -> Any:
    if not url.startswith(("https://", "http://")):
        raise ValueError("the JWKS URL must be http(s)")
    request = urllib.request.Request(url, headers={"Accept": "application/jwk-set+json, application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
        return json.loads(response.read(1 << 20))


def _build_identity(claims: dict[str, Any]) -> GerbangIdentity:
    roles = claims.get("roles", [])
    return GerbangIdentity(
        sub=_text(claims.get("sub")),
        client_id=_text(claims.get("client_id")),
        opd=_text(claims.get("opd")),
        roles=tuple(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else (),
        acr=_text(claims.get("acr")),
        jti=claims["jti"],
        expires_at=claims["exp"],
        claims=claims,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


_TITLES = {400: "Bad Request", 401: "Unauthorized", 413: "Content Too Large", 503: "Service Unavailable"}


def _problem(error: AssertionRejected) -> bytes:
    title = _TITLES.get(error.status, "Forbidden")
    return json.dumps({"type": "about:blank", "title": title, "status": error.status, "detail": error.message}).encode()


def _build_verifier(
    verifier: AssertionVerifier | None, issuer: str | None, audience: str | None, jwks_url: str | None
) -> AssertionVerifier:
    if verifier is not None:
        return verifier
    if not issuer or not audience:
        raise ValueError("give either a verifier or the hub's issuer and this app's audience")
    return AssertionVerifier(issuer=issuer, audience=audience, jwks_url=jwks_url)


class GerbangAssertionMiddleware:
    """ASGI: refuses HTTP and WebSocket requests without a valid assertion; sets ``scope["state"]["gerbang"]``
    (``request.state.gerbang`` in starlette) to the ``GerbangIdentity``."""

    def __init__(
        self,
        app: Any,
        verifier: AssertionVerifier | None = None,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        jwks_url: str | None = None,
        signatures: Any = None,
        max_body_bytes: int = 10 << 20,
    ) -> None:
        self.app = app
        self.verifier = _build_verifier(verifier, issuer, audience, jwks_url)
        self.signatures, self.max_body_bytes = signatures, max_body_bytes  # http_signatures.MessageSignatureVerifier

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = next((v.decode("latin-1") for k, v in scope["headers"] if k.lower() == HEADER.encode()), None)
        try:
            if self.signatures is not None and scope["type"] == "http":
                receive = await self._check_signature(scope, receive)
            elif self.signatures is not None:  # a WebSocket handshake: signed like a GET without a body
                await self._check_message(scope, "GET", b"")
            identity = await self.verifier.verify_async(token)
        except AssertionRejected as exc:
            await _refuse_asgi(scope, send, exc)
            return
        state = scope.setdefault("state", {})
        state["gerbang"] = identity
        await self.app(scope, receive, send)

    async def _check_signature(self, scope: dict[str, Any], receive: Any) -> Any:
        """Reads the body whole, checks the signature, and returns a ``receive`` that replays the body."""
        pieces, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise AssertionRejected("the client left", status=400)
            pieces.append(message.get("body", b""))
            size += len(pieces[-1])
            if size > self.max_body_bytes:
                raise AssertionRejected("the request body is too large", status=413)
            more = message.get("more_body", False)
        body = b"".join(pieces)
        await self._check_message(scope, scope["method"], body)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    async def _check_message(self, scope: dict[str, Any], method: str, body: bytes) -> None:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        target = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        target += "?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else ""
        kid = self.signatures.keyid(headers)
        if self.verifier.needs_message_key(kid):
            await asyncio.to_thread(self.verifier.message_key, kid)
        try:
            if self.signatures.blocks:  # a shared replay store: its round trip off the loop
                await asyncio.to_thread(self.signatures.verify_pairs, method, target, headers, body)
            else:
                self.signatures.verify_pairs(method, target, headers, body)
        except self.signatures.rejected as exc:
            raise AssertionRejected(exc.message, exc.status) from None


async def _refuse_asgi(scope: dict[str, Any], send: Any, error: AssertionRejected) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})  # the server answers the handshake with 403
        return
    body = _problem(error)
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class GerbangAssertionWSGIMiddleware:
    """WSGI (Flask, Django): refuses requests without a valid assertion; sets ``environ["gerbang.identity"]``."""

    def __init__(
        self,
        app: Any,
        verifier: AssertionVerifier | None = None,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        jwks_url: str | None = None,
        signatures: Any = None,
        max_body_bytes: int = 10 << 20,
    ) -> None:
        self.app = app
        self.verifier = _build_verifier(verifier, issuer, audience, jwks_url)
        self.signatures, self.max_body_bytes = signatures, max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            if self.signatures is not None:
                self._check_signature(environ)
            identity = self.verifier.verify(environ.get("HTTP_X_GERBANG_ASSERTION"))
        except AssertionRejected as exc:
            body = _problem(exc)
            status = f"{exc.status} {_TITLES.get(exc.status, 'Forbidden')}"
            start_response(status, [("Content-Type", "application/problem+json"), ("Content-Length", str(len(body)))])
            return [body]
        environ["gerbang.identity"] = identity
        return self.app(environ, start_response)

    def _check_signature(self, environ: dict[str, Any]) -> None:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise AssertionRejected("invalid Content-Length", status=400) from None
        if length > self.max_body_bytes:
            raise AssertionRejected("the request body is too large", status=413)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        headers = [
            (key[5:].replace("_", "-").lower(), value) for key, value in environ.items() if key.startswith("HTTP_")
        ]
        headers += [("content-type", environ["CONTENT_TYPE"])] if environ.get("CONTENT_TYPE") else []
        target = urllib.parse.quote(environ.get("PATH_INFO", ""), safe="/;%=:@!$&'()*+,~-._")
        target = (
            environ.get("REQUEST_URI")
            or environ.get("RAW_URI")
            or (target + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else ""))
        )
        self.verifier.message_key(self.signatures.keyid(headers) or "")
        try:
            self.signatures.verify_pairs(environ.get("REQUEST_METHOD", "GET"), target, headers, body)
        except self.signatures.rejected as exc:
            raise AssertionRejected(exc.message, exc.status) from None
