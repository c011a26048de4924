"""The hub's signing keys: generation, rotation, encryption at rest, JWKS publication, signing.

The one module that signs JWTs (ID tokens, access tokens, logout tokens, gateway assertions).
Rollover without surprises (RFC 7517 §5, OIDC Core §10.1.1): rotation adds the new key as *next*, published in
the JWKS at once but signing only from ``activates_at`` (``key_activation_delay`` later, at least the JWKS cache
lifetime), so a relying party that cached the JWKS has the new ``kid`` before it meets a token signed with it.
The key it replaces signs until then and stays published (and keeps verifying) ``key_retire_after`` seconds
more, longer than any token lives. Revoking a leaked key replaces it at once: there, speed beats smoothness.

Besides the primary key (``signing_alg``: everything is signed with it by default) the ring holds one key
per other ID token algorithm (``ID_TOKEN_ALGS``: a client's ``id_token_signed_response_alg``), each its own
published key with its own ``alg``, rotated (and pre-published) together with the primary.

One more key signs HTTP messages (RFC 9421, ``gateway.integrity``): ``purpose`` ``http-message``, ES256, published
in the same JWKS under its own ``kid`` with ``"gerbang_use": "http-message"``, rotated and pre-published with the
primary. It never signs a JWS and verifies no token here (it is left out of ``public_key``); a JWS signer's key never
signs a message either: each verifier takes only its own kind (docs/integrity.md).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import functools
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from idp.clock import Clock
from idp.errors import Conflict, NotFound
from idp.periodic import Periodic
from idp.storage.db import serialize
from idp.storage.models import SigningKey

SUPPORTED_ALGS = ("ES256", "RS256")  # the primary key's algorithm (settings.signing_alg)
ID_TOKEN_ALGS = ("ES256", "PS256", "RS256", "EdDSA")  # one active key each (OIDC Core §15.1: RS256 required)
JWS, HTTP_MESSAGE = "jws", "http-message"  # SigningKey.purpose
MESSAGE_ALG = "ES256"  # RFC 9421 ecdsa-p256-sha256
# A token naming an unknown kid reloads the ring at most this often: made-up kids cannot become a load each.
UNKNOWN_KID_RELOAD_INTERVAL = 5.0

log = logging.getLogger("gerbang.keys")


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    alg: str
    private_key: Any


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def encode_es256(private_key: ec.EllipticCurvePrivateKey, kid: str, claims: dict[str, Any], typ: str) -> str:
    """``jwt.encode(claims, private_key, algorithm="ES256", headers={"kid": kid, "typ": typ})``, the same header
    and payload bytes (a unit test compares them), without PyJWT's per-call work around the signature: the token
    endpoint signs one access token per request, and that work cost more than half as much again as the ECDSA
    signature itself (``_plain`` sends claims PyJWT would convert or refuse to it)."""
    if not isinstance(private_key.curve, ec.SECP256R1):
        raise ValueError("ES256 signs with a P-256 key")
    signing_input = _header_segment(kid, typ) + b"." + _b64(json.dumps(claims, separators=(",", ":")).encode())
    r, s = decode_dss_signature(private_key.sign(signing_input, _ECDSA_SHA256))
    return (signing_input + b"." + _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))).decode()


@functools.lru_cache(maxsize=64)
def _header_segment(kid: str, typ: str) -> bytes:
    header = {"alg": "ES256", "kid": kid, "typ": typ}  # PyJWS's header: sorted, no spaces
    return _b64(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())


def _b64(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


def _plain(claims: dict[str, Any]) -> bool:
    """Nothing PyJWT would treat specially: no datetime in exp/iat/nbf (converted), ``iss`` text (else refused)."""
    if type(claims) is not dict or ("iss" in claims and not isinstance(claims["iss"], str)):
        return False
    return not any(isinstance(claims.get(name), datetime.datetime) for name in ("exp", "iat", "nbf"))


def _kek(secret: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"gerbang", info=b"signing-keys").derive(secret)
    return AESGCM(key)


def encrypt_private_key(pem: bytes, secret: bytes, kid: str) -> str:
    nonce = os.urandom(12)
    sealed = _kek(secret).encrypt(nonce, pem, kid.encode())
    return base64.b64encode(nonce + sealed).decode()


def decrypt_private_key(blob: str, secret: bytes, kid: str) -> Any:
    raw = base64.b64decode(blob)
    pem = _kek(secret).decrypt(raw[:12], raw[12:], kid.encode())
    return serialization.load_pem_private_key(pem, password=None)


def generate_key(alg: str) -> Any:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg in ("RS256", "PS256"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported signing algorithm {alg}")


def public_jwk(private_key: Any, kid: str, alg: str, purpose: str = JWS) -> dict[str, Any]:
    algorithms: dict[str, type[jwt.algorithms.Algorithm]] = {
        "ES256": jwt.algorithms.ECAlgorithm,
        "EdDSA": jwt.algorithms.OKPAlgorithm,
    }
    algo = algorithms.get(alg, jwt.algorithms.RSAAlgorithm)
    jwk = json.loads(algo.to_jwk(private_key.public_key()))
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    if purpose == HTTP_MESSAGE:
        jwk["gerbang_use"] = HTTP_MESSAGE
    return jwk


async def create_signing_key(
    session: AsyncSession,
    alg: str,
    secret: bytes,
    now: int,
    activates_at: int | None = None,
    id_token_only: bool = False,
    purpose: str = JWS,
) -> SigningKey:
    """Add a key, published from now on, signing from ``activates_at`` (``None``: at once)."""
    if alg not in SUPPORTED_ALGS and alg not in ID_TOKEN_ALGS:
        raise ValueError(f"unsupported signing algorithm {alg}")
    private_key = generate_key(alg)
    kid = secrets.token_urlsafe(12)
    while kid.startswith("-"):  # a kid is typed on command lines (`gerbang keys revoke KID`): never an option
        kid = secrets.token_urlsafe(12)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    row = SigningKey(
        kid=kid,
        alg=alg,
        private_key=encrypt_private_key(pem, secret, kid),
        public_jwk=public_jwk(private_key, kid, alg, purpose),
        created_at=now,
        activates_at=activates_at,
        id_token_only=id_token_only,
        purpose=purpose,
    )
    session.add(row)
    return row


async def rotate_keys(
    session: AsyncSession, alg: str, secret: bytes, now: int, retire_after: int, activate_after: int = 0
) -> SigningKey:
    """Add the next keys (the primary and one per other ID token algorithm), signing ``activate_after`` seconds
    from now; the keys signing until then stop at that moment (a key already due to stop earlier keeps its time)
    and stay published ``retire_after`` more."""
    signing = (
        await session.scalars(
            select(SigningKey).where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > now))
        )
    ).all()
    if not any(is_signing(key, now) for key in signing):
        activate_after = 0  # nothing signs yet: no relying party can be surprised, and something must sign
    switch = now + activate_after
    for key in signing:
        if key.retired_at is None or key.retired_at > switch:
            key.retired_at = switch
        key.expires_at = key.retired_at + retire_after
    activates_at = switch if activate_after > 0 else None
    for companion in companion_algs(alg):
        await create_signing_key(session, companion, secret, now, activates_at=activates_at, id_token_only=True)
    await create_signing_key(session, MESSAGE_ALG, secret, now, activates_at=activates_at, purpose=HTTP_MESSAGE)
    return await create_signing_key(session, alg, secret, now, activates_at=activates_at)


def companion_algs(primary: str) -> tuple[str, ...]:
    return tuple(alg for alg in ID_TOKEN_ALGS if alg != primary)


def _missing(rows: Any, primary_alg: str) -> list[tuple[str, bool]]:
    """(alg, id_token_only) of the keys to create: a primary when none is active, and an ID token key for every
    other algorithm that has no active key."""
    active = [row for row in rows if row.retired_at is None and _purpose(row) == JWS]
    primaries = [row for row in active if not row.id_token_only]
    primary = primaries[-1].alg if primaries else primary_alg
    missing = [] if primaries else [(primary_alg, False)]
    have = {row.alg for row in active}
    return missing + [(alg, True) for alg in companion_algs(primary) if alg not in have]


def _purpose(row: SigningKey) -> str:
    return row.purpose or JWS


def _message_key_missing(rows: Any) -> bool:
    return not any(row.retired_at is None and _purpose(row) == HTTP_MESSAGE for row in rows)


async def revoke_key(session: AsyncSession, kid: str, alg: str, secret: bytes, now: int) -> SigningKey | None:
    """Stop trusting ``kid`` now (a key that may have leaked): it is unpublished and verifies nothing more, on
    every instance at its next key refresh. Revoking the active key first puts a new one in its place (returned).
    """
    row = await session.scalar(select(SigningKey).where(SigningKey.kid == kid))
    if row is None:
        raise NotFound(f"no signing key '{kid}'")
    if row.expires_at is not None and row.expires_at <= now:
        raise Conflict(f"signing key '{kid}' verifies nothing already (expired or revoked)")
    replacement = None
    if is_signing(row, now) and _purpose(row) == HTTP_MESSAGE:
        replacement = await create_signing_key(session, MESSAGE_ALG, secret, now, purpose=HTTP_MESSAGE)
        row.retired_at = now
    elif is_signing(row, now):  # an ID token key is replaced by one of its own algorithm
        replacement = await create_signing_key(
            session, row.alg if row.id_token_only else alg, secret, now, id_token_only=bool(row.id_token_only)
        )
        row.retired_at = now
    elif _activation(row) > now:  # a next key that never signed: the keys it was to replace sign on
        waiting = (await session.scalars(select(SigningKey).where(SigningKey.retired_at == row.activates_at))).all()
        for key in waiting:
            if key.kid != row.kid:
                key.retired_at, key.expires_at = None, None
    row.expires_at = now
    return replacement


def _activation(row: SigningKey) -> int:
    return row.activates_at if row.activates_at is not None else row.created_at


def is_signing(row: SigningKey, now: int) -> bool:
    """Activated and not yet retired (a retirement can be scheduled ahead, at the next key's activation)."""
    return _activation(row) <= now and (row.retired_at is None or row.retired_at > now)


def key_state(row: SigningKey, now: int) -> str:
    """``next`` (published, not signing yet), ``active``, ``retired`` (still verifies) or ``expired``."""
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    if _activation(row) > now:
        return "next"
    return "active" if row.retired_at is None or row.retired_at > now else "retired"


class KeyRing:
    """The signing key and published JWKS of this instance, reloaded from storage on demand.

    Loading is async; signing and ``jwks()`` are synchronous and allocation-light so they can be
    called from authlib's synchronous hooks and from the gateway's hot path.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], secret: bytes, alg: str, clock: Clock) -> None:
        self._sessionmaker = sessionmaker
        self._secret = secret
        self._alg = alg
        self._clock = clock
        self._active: ActiveKey | None = None
        self._next: tuple[ActiveKey, int] | None = None  # published already; signs from the time given
        self._by_alg: dict[str, ActiveKey] = {}  # signing now, per ID token algorithm
        self._next_by_alg: dict[str, tuple[ActiveKey, int]] = {}
        self._jwks: dict[str, Any] = {"keys": []}
        self._jwks_bytes = b'{"keys":[]}'
        self._public: dict[str, dict[str, Any]] = {}
        self._message: ActiveKey | None = None  # signs HTTP messages (RFC 9421), never a JWS
        self._next_message: tuple[ActiveKey, int] | None = None
        self._reload_lock = asyncio.Lock()
        self._forced_at = float("-inf")

    async def load(self, create_if_missing: bool = True) -> None:
        now = self._clock.now()
        async with self._sessionmaker() as session, session.begin():
            rows = (await session.scalars(select(SigningKey).order_by(SigningKey.created_at))).all()
            if create_if_missing and (_missing(rows, self._alg) or _message_key_missing(rows)):
                # workers starting together make one key (per algorithm)
                await serialize(session, "gerbang-first-signing-key", "signing_keys")
                rows = (await session.scalars(select(SigningKey).order_by(SigningKey.created_at))).all()
                for alg, id_token_only in _missing(rows, self._alg):
                    rows = [
                        *rows,
                        await create_signing_key(session, alg, self._secret, now, id_token_only=id_token_only),
                    ]
                if _message_key_missing(rows):
                    rows = [
                        *rows,
                        await create_signing_key(session, MESSAGE_ALG, self._secret, now, purpose=HTTP_MESSAGE),
                    ]
        every = [row for row in rows if row.expires_at is None or row.expires_at > now]
        self._load_message_keys([row for row in every if _purpose(row) == HTTP_MESSAGE], now)
        published = [row for row in every if _purpose(row) == JWS]
        signing = sorted((row for row in published if is_signing(row, now)), key=_activation)
        primaries = [row for row in signing if not row.id_token_only]
        if primaries:  # the newest primary signs everything by default (its algorithm: signing_alg or --alg)
            self._active = self._key_for(primaries[-1])
        # Per algorithm, for ID tokens: the primary for its own algorithm, the newest ID token key for the others.
        by_alg = {row.alg: row for row in signing if row.id_token_only}
        if primaries:
            by_alg[primaries[-1].alg] = primaries[-1]
        upcoming = sorted((row for row in published if _activation(row) > now), key=_activation)
        next_primaries = [row for row in upcoming if not row.id_token_only]
        next_by_alg: dict[str, SigningKey] = {}
        for row in upcoming:
            if row.id_token_only:
                next_by_alg.setdefault(row.alg, row)
        if next_primaries:
            next_by_alg[next_primaries[0].alg] = next_primaries[0]
        self._next = (self._key_for(next_primaries[0]), _activation(next_primaries[0])) if next_primaries else None
        self._by_alg = {alg: self._key_for(row) for alg, row in by_alg.items()}
        self._next_by_alg = {alg: (self._key_for(row), _activation(row)) for alg, row in next_by_alg.items()}
        self._public = {row.kid: row.public_jwk for row in published}
        # Newest first, the primary keys before the per-algorithm ID token keys, the message keys last.
        ordered = sorted(reversed(every), key=lambda row: (_purpose(row) == HTTP_MESSAGE, bool(row.id_token_only)))
        self._jwks = {"keys": [row.public_jwk for row in ordered]}
        self._jwks_bytes = json.dumps(self._jwks, separators=(",", ":")).encode()

    async def refresh_forever(self, interval: float) -> None:
        """Pick up rotations made by another process (``gerbang keys rotate``, another instance). Storage down
        or a key sealed under another secret: the loaded keys stay, and the loop keeps trying."""
        await Periodic(
            "signing-keys", lambda: self.load(create_if_missing=False), interval, on_failure="keeping the loaded keys"
        ).run_forever()

    async def reload_for_unknown_kid(self, kid: str) -> bool:
        """Reload once for a token signed by a key not loaded here yet; True if the key is known afterwards."""
        if kid in self._public:
            return True
        async with self._reload_lock:  # concurrent tokens with the new kid wait for one load, not fail
            if kid in self._public:
                return True
            moment = time.monotonic()
            if moment - self._forced_at < UNKNOWN_KID_RELOAD_INTERVAL:
                return False
            self._forced_at = moment
            await self.load(create_if_missing=False)
        return kid in self._public

    def _load_message_keys(self, rows: list[SigningKey], now: int) -> None:
        signing = sorted((row for row in rows if is_signing(row, now)), key=_activation)
        upcoming = sorted((row for row in rows if _activation(row) > now), key=_activation)
        self._message = self._key_for(signing[-1]) if signing else self._message
        self._next_message = (self._key_for(upcoming[0]), _activation(upcoming[0])) if upcoming else None

    @property
    def message_key(self) -> ActiveKey:
        """The key signing HTTP messages now (RFC 9421); its successor takes over at its time between reloads."""
        if self._next_message is not None and self._clock.now() >= self._next_message[1]:
            self._message, self._next_message = self._next_message[0], None
        if self._message is None:
            raise RuntimeError("no message-signing key loaded")
        return self._message

    def _key_for(self, row: SigningKey) -> ActiveKey:
        """The loaded key for ``row`` (decrypted once, kept across reloads)."""
        loaded = [
            self._active,
            *(key for key, _at in ([self._next] if self._next else [])),
            self._message,
            *(key for key, _at in ([self._next_message] if self._next_message else [])),
            *self._by_alg.values(),
            *(key for key, _at in self._next_by_alg.values()),
        ]
        for key in loaded:
            if key is not None and key.kid == row.kid:
                return key
        return ActiveKey(row.kid, row.alg, decrypt_private_key(row.private_key, self._secret, row.kid))

    @property
    def active(self) -> ActiveKey:
        """The key signing now: the next key takes over at its time even between two reloads."""
        if self._next is not None and self._clock.now() >= self._next[1]:
            self._active, self._next = self._next[0], None
        if self._active is None:
            raise RuntimeError("no signing key loaded")
        return self._active

    def jwks(self) -> dict[str, Any]:
        return self._jwks

    def jwks_bytes(self) -> bytes:
        return self._jwks_bytes

    def _signing_key_for(self, alg: str) -> ActiveKey | None:
        """The key signing ``alg`` now: a next key takes over at its time even between two reloads."""
        upcoming = self._next_by_alg.get(alg)
        if upcoming is not None and self._clock.now() >= upcoming[1]:
            self._by_alg[alg] = upcoming[0]
            del self._next_by_alg[alg]
        return self._by_alg.get(alg)

    def sign(self, claims: dict[str, Any], typ: str = "JWT", alg: str | None = None) -> str:
        """Signed with the primary key, or with the active key of ``alg`` (a client's ID token algorithm)."""
        active = self.active
        key = active if alg is None or alg == active.alg else self._signing_key_for(alg)
        if key is None:
            raise RuntimeError(f"no {alg} signing key loaded")
        private = key.private_key
        if key.alg == "ES256" and isinstance(private, ec.EllipticCurvePrivateKey) and _plain(claims):
            return encode_es256(private, key.kid, claims, typ)
        return jwt.encode(claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": typ})

    def key_alg(self, kid: str) -> str | None:
        """The algorithm a published key is for (a key verifies only tokens of its own algorithm)."""
        jwk = self._public.get(kid)
        return None if jwk is None else str(jwk.get("alg"))

    def public_key(self, kid: str) -> Any | None:
        jwk = self._public.get(kid)
        if jwk is None:
            return None
        return jwt.PyJWK(jwk).key
