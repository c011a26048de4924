"""A receipt: what the gateway forwarded to an app and what the app answered, as one link of the ledger's hash chain.

``hash = SHA-256(prev_hash || canonical JSON of the receipt's fields)`` (sorted keys, no spaces, UTF-8): anyone holding
a receipt recomputes its hash, and anyone holding the chain recomputes every link. The ``Gerbang-Receipt`` header
and ``GET /ledger/receipts/{request_id}`` carry it as a compact JWS (``typ`` ``gerbang-receipt+jwt``) signed with
the hub's JWS key: verifiable offline against the JWKS (``check_receipt_token``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import jwt

RECEIPT_TYP = "gerbang-receipt+jwt"
CHECKPOINT_TYP = "gerbang-ledger-checkpoint+jwt"
GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class Receipt:
    """The facts of one exchange; digests are hex SHA-256 (of the query string, request body, response body)."""

    request_id: str
    at_ms: int
    app: str
    client_id: str | None
    sub: str | None
    method: str
    path: str
    query_digest: str
    request_digest: str
    status: int
    response_digest: str
    duration_us: int


@dataclass(frozen=True, slots=True)
class ChainedReceipt:
    receipt: Receipt
    seq: int
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {**fields_of(self.receipt), "seq": self.seq, "prev_hash": self.prev_hash, "hash": self.hash}


def fields_of(receipt: Receipt) -> dict[str, Any]:
    """The receipt's fields by name (``dataclasses.asdict`` deep-copies: several times slower)."""
    return {name: getattr(receipt, name) for name in FIELDS}


def canonical(receipt: Receipt) -> bytes:
    return json.dumps(fields_of(receipt), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, receipt: Receipt) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(receipt)).hexdigest()


FIELDS = tuple(Receipt.__dataclass_fields__)


def build_receipt_claims(chained: ChainedReceipt, issuer: str, now: int) -> dict[str, Any]:
    return {"iss": issuer, "iat": now, "jti": chained.receipt.request_id, "receipt": chained.as_json()}


def check_receipt_token(token: str, jwks: dict[str, Any], issuer: str) -> ChainedReceipt:
    """Offline: the token's signature against the hub's JWKS, and its receipt against its own chain hash.

    Raises ``ValueError`` when either fails."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise ValueError("not a compact JWS") from exc
    if header.get("typ") != RECEIPT_TYP:
        raise ValueError("not a Gerbang receipt (typ)")
    jwk = next(
        (key for key in jwks.get("keys", []) if key.get("kid") == header.get("kid") and "gerbang_use" not in key), None
    )
    if jwk is None or jwk.get("alg") != header.get("alg"):
        raise ValueError("the receipt names a key the hub does not publish")
    try:
        claims = jwt.decode(
            token,
            jwt.PyJWK(jwk).key,
            algorithms=[jwk["alg"]],
            issuer=issuer,
            options={"require": ["iss", "iat", "receipt"]},
        )
    except jwt.PyJWTError as exc:
        raise ValueError(f"the receipt's signature or claims do not verify: {exc}") from exc
    chained = read_chained(claims["receipt"])
    if chain_hash(chained.prev_hash, chained.receipt) != chained.hash:
        raise ValueError("the receipt does not match its chain hash")
    return chained


def read_chained(data: dict[str, Any]) -> ChainedReceipt:
    fields = {name: data[name] for name in Receipt.__dataclass_fields__}
    return ChainedReceipt(Receipt(**fields), int(data["seq"]), str(data["prev_hash"]), str(data["hash"]))
