"""HTTP Message Signatures (RFC 9421) and Content-Digest (RFC 9530) as Gerbang uses them: the hub signs each request
it forwards to an ``integrity`` app, the app verifies it.

Self-contained on purpose (standard library and ``cryptography`` only), like ``gateway.assertion``: an OPD app copies
this file and ``assertion.py`` and wires them as ``GerbangAssertionMiddleware(app, verifier, signatures=...)``.

The profile (docs/integrity.md restates it for other languages)::

    Content-Digest: sha-256=:<base64 SHA-256 of the body as forwarded>:
    Signature-Input: gerbang=("@method" "@target-uri" "content-digest" "x-gerbang-assertion" "x-request-id")
        ;created=<unix>;expires=<unix>;nonce="<random>";keyid="<kid in the hub's JWKS>";alg="ecdsa-p256-sha256"
        ;tag="gerbang"
    Signature: gerbang=:<base64 of r || s, 64 bytes (RFC 9421 §3.3.4)>:

``@target-uri`` is the app's public URI as the client addressed it: ``X-Forwarded-Proto://X-Forwarded-Host`` (one of
the app's own origins, which the verifier is given) followed by the path and query the app received.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

LABEL = "gerbang"
TAG = "gerbang"
ALG = "ecdsa-p256-sha256"
COMPONENTS = ("@method", "@target-uri", "content-digest", "x-gerbang-assertion", "x-request-id")
MAX_AGE = 60
_DIGEST = re.compile(r"(?:^|,)\s*sha-256\s*=\s*:([A-Za-z0-9+/]*={0,2}):\s*(?:;[^,]*)?(?=,|$)")
_MEMBER = re.compile(r'\s*([a-z*][a-z0-9_.*-]*)=(\((?:[^()"]|"(?:[^"\\]|\\.)*")*\)(?:;[^,]*)?|:[A-Za-z0-9+/=]*:)\s*')
_PARAM = re.compile(r';([a-z*][a-z0-9_.*-]*)=("(?:[^"\\]|\\.)*"|-?\d{1,15})')


class SignatureRejected(Exception):
    """The request was not signed by the hub as received; ``status``: 401 (unsigned), 403, or 503 (the replay store
    cannot answer)."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def format_content_digest(sha256: bytes) -> str:
    return f"sha-256=:{base64.b64encode(sha256).decode()}:"


def parse_content_digest(value: str) -> bytes | None:
    """The SHA-256 a Content-Digest field states, or None when it states none (other algorithms only)."""
    match = _DIGEST.search(value)
    if match is None:
        return None
    try:
        digest = base64.b64decode(match.group(1), validate=True)
    except binascii.Error:
        return None
    return digest if len(digest) == 32 else None


def build_signature_params(
    created: int, expires: int, nonce: str, keyid: str, components: Iterable[str] = COMPONENTS
) -> str:
    """The ``@signature-params`` value (RFC 9421 §2.3): the covered components and the parameters, serialized."""
    inner = " ".join(f'"{name}"' for name in components)
    return f'({inner});created={created};expires={expires};nonce="{nonce}";keyid="{keyid}";alg="{ALG}";tag="{TAG}"'


def build_signature_base(values: Mapping[str, str], params: str, components: Iterable[str] = COMPONENTS) -> bytes:
    """RFC 9421 §2.5: one line per covered component, then ``"@signature-params"``."""
    lines = [f'"{name}": {values[name]}' for name in components]
    lines.append(f'"@signature-params": {params}')
    return "\n".join(lines).encode()


def verify_es256(public_key: ec.EllipticCurvePublicKey, base: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public_key.verify(der, base, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def read_member(field: str, label: str) -> str | None:
    """The value of dictionary member ``label`` in a Signature or Signature-Input field (RFC 8941 §3.2)."""
    found = None
    position = 0
    while position < len(field):
        match = _MEMBER.match(field, position)
        if match is None:
            raise SignatureRejected("the signature fields are malformed")
        if match.group(1) == label:
            if found is not None:
                raise SignatureRejected("the signature label appears twice")
            found = match.group(2)
        position = match.end()
        if position < len(field):
            if field[position] != ",":
                raise SignatureRejected("the signature fields are malformed")
            position += 1
    return found


def parse_signature_input(member: str) -> tuple[tuple[str, ...], dict[str, Any], str]:
    """(covered components, parameters, the serialized params as signed) of one Signature-Input member."""
    if not member.startswith("("):
        raise SignatureRejected("the signature input is not an inner list")
    close = member.index(")")
    components = tuple(re.findall(r'"([^"]*)"', member[1:close]))
    params: dict[str, Any] = {}
    rest = member[close + 1 :]
    for match in _PARAM.finditer(rest):
        name, raw = match.groups()
        if name in params:
            raise SignatureRejected(f"the signature parameter {name} appears twice")
        params[name] = raw[1:-1] if raw.startswith('"') else int(raw)
    if "".join(match.group(0) for match in _PARAM.finditer(rest)) != rest.strip():
        raise SignatureRejected("the signature parameters are malformed")
    return components, params, member.strip()


class ReplayCache:
    """Nonces seen, each kept until its signature expires; one process. Several processes (gunicorn workers, hosts)
    share one with a store of their own (e.g. Redis ``SET nonce 1 NX EXAT expires``): any object with ``first_use``."""

    def __init__(self, clock: Callable[[], float] = time.time, max_entries: int = 1_000_000) -> None:
        self._clock, self._max = clock, max_entries
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def first_use(self, nonce: str, expires: int) -> bool:
        with self._lock:
            now = self._clock()
            if len(self._seen) >= self._max:
                self._seen = {key: until for key, until in self._seen.items() if until > now}
                if len(self._seen) >= self._max:
                    return False  # full of live nonces: refuse rather than forget one
            if self._seen.get(nonce, 0) > now:
                return False
            self._seen[nonce] = expires + 10
            return True


class SharedReplayCache:
    """Nonces seen by every process of an app, in Redis (or anything with redis-py's ``set``): one
    ``SET <prefix><nonce> 1 NX EXAT <expires + 10>`` per request, so a copy sent to another worker or host is
    refused too. ``client`` is a synchronous ``redis.Redis`` (give it socket timeouts); the verifier runs before
    the app, so an app with no Redis keeps ``ReplayCache``.

    Fail closed: while the store cannot answer, every signed request is refused (a per-process fallback would let
    a copy through to another process for the signature's lifetime)."""

    blocks = True  # a network round trip: the ASGI middleware checks off the event loop

    def __init__(self, client: Any, prefix: str = "gerbang:nonce:") -> None:
        self._client, self._prefix = client, prefix

    def first_use(self, nonce: str, expires: int) -> bool:
        try:
            return bool(self._client.set(self._prefix + nonce, b"1", nx=True, exat=int(expires) + 10))
        except Exception as exc:  # the store's own errors (redis.RedisError, OSError): no answer is not a yes
            raise SignatureRejected("the app cannot check this request for replay now", status=503) from exc


class MessageSignatureVerifier:
    """Checks the hub's signature on one request: the profile above, fresh, first use of its nonce, body intact.

    ``keys(kid)`` returns the hub's message-signing public key of that ``kid`` (``AssertionVerifier.message_key``);
    ``origins`` are the app's own origins (``https://e-budgeting.apps.palembang.go.id``), the first the default.
    """

    def __init__(
        self,
        keys: Callable[[str], Any],
        origins: Iterable[str],
        *,
        max_age: int = MAX_AGE,
        leeway: int = 5,
        replay: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys, self._origins = keys, tuple(origin.rstrip("/") for origin in origins)
        if not self._origins:
            raise ValueError("give the app's origin(s)")
        self._max_age, self._leeway, self._clock = max_age, leeway, clock
        self._replay = replay if replay is not None else ReplayCache(clock)
        self.blocks = bool(getattr(self._replay, "blocks", False))

    rejected = SignatureRejected

    @staticmethod
    def keyid(pairs: Iterable[tuple[str, str]]) -> str | None:
        """The ``keyid`` the request's signature names (to fetch the JWKS off the event loop first)."""
        for name, value in pairs:
            if name.lower() == "signature-input":
                match = re.search(r';keyid="([^"]*)"', value)
                return match.group(1) if match else None
        return None

    def verify_pairs(self, method: str, path_and_query: str, pairs: Iterable[tuple[str, str]], body: bytes) -> str:
        return self.verify(method, path_and_query, join_headers(pairs), body)

    def verify(self, method: str, path_and_query: str, headers: Mapping[str, str], body: bytes) -> str:
        """Raises ``SignatureRejected``; returns the nonce.

        ``headers``: lower-case names, repeated fields joined by ", " (``join_headers``)."""
        signature_input, signature = headers.get("signature-input"), headers.get("signature")
        if not signature_input or not signature:
            raise SignatureRejected("this app accepts only requests signed by Gerbang", status=401)
        member, signed = read_member(signature_input, LABEL), read_member(signature, LABEL)
        if member is None or signed is None or not signed.startswith(":"):
            raise SignatureRejected("the request carries no Gerbang signature", status=401)
        components, params, params_text = parse_signature_input(member)
        self._check_params(components, params)
        key = self._keys(params["keyid"])
        if key is None:
            raise SignatureRejected("the signature names a key the hub does not publish for messages")
        values = self._component_values(method, path_and_query, headers)
        try:
            raw = base64.b64decode(signed.strip(":"), validate=True)
        except binascii.Error:
            raise SignatureRejected("the signature is not base64") from None
        if not verify_es256(key, build_signature_base(values, params_text, components), raw):
            raise SignatureRejected(
                "the signature does not match the request (method, target, digest, assertion or "
                "request id changed after signing)"
            )
        if parse_content_digest(values["content-digest"]) != hashlib.sha256(body).digest():
            raise SignatureRejected("the body does not match its signed Content-Digest")
        if not self._replay.first_use(params["nonce"], params["expires"]):
            raise SignatureRejected("this signed request was already received (replay)")
        return str(params["nonce"])

    def _check_params(self, components: tuple[str, ...], params: dict[str, Any]) -> None:
        if components != COMPONENTS or params.get("alg") != ALG or params.get("tag") != TAG:
            raise SignatureRejected("the signature does not cover what Gerbang signs")
        created, expires = params.get("created"), params.get("expires")
        if (
            not isinstance(created, int)
            or not isinstance(expires, int)
            or not isinstance(params.get("nonce"), str)
            or not isinstance(params.get("keyid"), str)
            or len(params["nonce"]) < 16
        ):
            raise SignatureRejected("the signature parameters are incomplete")
        now = int(self._clock())
        if created - self._leeway > now:
            raise SignatureRejected("the signature was created in the future")
        if expires + self._leeway <= now or expires - created > self._max_age:
            raise SignatureRejected("the signature has expired")

    def _component_values(self, method: str, path_and_query: str, headers: Mapping[str, str]) -> dict[str, str]:
        values = {"@method": method.upper(), "@target-uri": self._origin(headers) + path_and_query}
        for name in COMPONENTS[2:]:
            value = headers.get(name)
            if value is None:
                raise SignatureRejected(f"the signed header {name} is missing")
            values[name] = value.strip()
        return values

    def _origin(self, headers: Mapping[str, str]) -> str:
        host, proto = headers.get("x-forwarded-host"), headers.get("x-forwarded-proto")
        if not host or not proto:
            return self._origins[0]
        origin = f"{proto.strip().lower()}://{host.strip().lower()}"
        if origin not in self._origins:
            raise SignatureRejected("the request was addressed to another origin than this app's")
        return origin


def join_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-case names; repeated fields joined with ", " (RFC 9421 §2.1)."""
    joined: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        joined[key] = f"{joined[key]}, {value.strip()}" if key in joined else value.strip()
    return joined
