"""A receipt: what the gateway forwarded to an app and what the app answered, one link of the ledger's hash chain
and one leaf of its batch's Merkle tree; the signed checkpoint of a batch; the ``Gerbang-Receipt`` a client holds.

``hash = SHA-256(prev_hash || canonical JSON of the receipt's fields)`` (sorted keys, no spaces, UTF-8): anyone holding
a receipt recomputes its hash, and anyone holding the chain recomputes every link. Each batch the writer commits
gets one signed checkpoint (a JWS, ``typ`` ``gerbang-ledger-checkpoint+jwt``) naming the batch's first and last seq,
the chain hash of its last receipt, the RFC 9162 Merkle tree head over its receipts (``gateway.integrity.merkle``)
and the tree head of the batch before: one signature per batch, as Certificate Transparency signs tree heads.

``Gerbang-Receipt`` (and ``GET /ledger/receipts/{request_id}``'s ``token``) is ``<checkpoint JWS>~<proof>``, the
proof base64url JSON ``{"receipt": {...}, "path": [base64url sibling hashes]}``: verifiable offline with the hub's
JWKS alone (``check_receipt_token``), and nothing in it costs a signature per request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from gateway.integrity.merkle import receipt_leaf, root_from_path

CHECKPOINT_TYP = "gerbang-ledger-checkpoint+jwt"
GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class Receipt:
    """The facts of one exchange; digests are hex SHA-256 (of the query string, request body, response body).

    ``outcome`` is None for an answer the client received whole. Otherwise the exchange ended early, after the
    request reached the app (which may have acted on it): ``client-gone`` (the client left mid-response),
    ``upstream-cut`` (the app's answer broke off), ``no-response`` (the app sent no answer in time; ``status`` is
    then the gateway's own 502/504), ``gateway-cut`` (the gateway ended it: shutdown deadline, a failure). Its digests cover what passed. Absent from the canonical JSON when None, so a
    receipt of a delivered answer hashes as it did before the field existed.
    """

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
    outcome: str | None = None


OUTCOMES = ("client-gone", "upstream-cut", "no-response", "gateway-cut")


@dataclass(frozen=True, slots=True)
class ChainedReceipt:
    receipt: Receipt
    seq: int
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {**fields_of(self.receipt), "seq": self.seq, "prev_hash": self.prev_hash, "hash": self.hash}


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What a checkpoint signs. ``first_seq``, ``root`` and ``prev_root`` are ``None`` in a checkpoint written before
    batches had Merkle trees (it signs the chain head only)."""

    seq: int
    hash: str
    first_seq: int | None = None
    root: str | None = None
    prev_root: str | None = None


def fields_of(receipt: Receipt) -> dict[str, Any]:
    """The receipt's fields by name (``dataclasses.asdict`` deep-copies: several times slower); ``outcome`` only
    when it is set."""
    fields = {name: getattr(receipt, name) for name in FIELDS}
    if receipt.outcome is None:
        del fields["outcome"]
    return fields


def canonical(receipt: Receipt) -> bytes:
    """``json.dumps(fields_of(receipt), sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` in UTF-8, byte
    for byte (a unit test compares them over unicode, control characters and absent values), written out in the
    keys' sorted order: the ledger computes it for every receipt, and the generic encoder costs five times more.
    A receipt whose fields are not of their declared types (read from a proof someone else wrote) takes the
    generic path."""
    r = receipt
    if not (type(r.at_ms) is int and type(r.status) is int and type(r.duration_us) is int and _texts(r)):
        return _generic_canonical(r)
    outcome = "" if r.outcome is None else f',"outcome":{_text(r.outcome)}'
    return (
        f'{{"app":{_text(r.app)},"at_ms":{r.at_ms},"client_id":{_optional(r.client_id)},'
        f'"duration_us":{r.duration_us},"method":{_text(r.method)}{outcome},"path":{_text(r.path)},'
        f'"query_digest":{_text(r.query_digest)},"request_digest":{_text(r.request_digest)},'
        f'"request_id":{_text(r.request_id)},"response_digest":{_text(r.response_digest)},"status":{r.status},'
        f'"sub":{_optional(r.sub)}}}'
    ).encode()


def _generic_canonical(receipt: Receipt) -> bytes:
    return json.dumps(fields_of(receipt), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_text = json.encoder.encode_basestring  # a JSON string as ``ensure_ascii=False`` writes it (C)


def _optional(value: str | None) -> str:
    return "null" if value is None else _text(value)


def _texts(r: Receipt) -> bool:
    return (
        type(r.app) is str
        and type(r.method) is str
        and type(r.path) is str
        and type(r.query_digest) is str
        and type(r.request_digest) is str
        and type(r.request_id) is str
        and type(r.response_digest) is str
        and (r.client_id is None or type(r.client_id) is str)
        and (r.sub is None or type(r.sub) is str)
        and (r.outcome is None or type(r.outcome) is str)
    )


def chain_hash(prev_hash: str, receipt: Receipt) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(receipt)).hexdigest()


FIELDS = tuple(Receipt.__dataclass_fields__)


def build_checkpoint_claims(checkpoint: Checkpoint, issuer: str, now: int) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "seq": checkpoint.seq,
        "hash": checkpoint.hash,
        "first_seq": checkpoint.first_seq,
        "root": checkpoint.root,
        "prev_root": checkpoint.prev_root,
        "iat": now,
    }
    if issuer:
        claims["iss"] = issuer
    return claims


def peek_checkpoint(token: str) -> Checkpoint:
    """The claims of a checkpoint this hub stored, its signature unchecked (to build proofs, never to trust)."""
    return _read_claims(jwt.decode(token, options={"verify_signature": False}))


def check_checkpoint(
    token: str, find_jwk: Callable[[str], dict[str, Any] | None], issuer: str | None = None
) -> Checkpoint:
    """A checkpoint's signature against the hub key its ``kid`` names; ``ValueError`` when it does not verify."""
    try:
        header = jwt.get_unverified_header(token)
        jwk = find_jwk(str(header.get("kid")))
        if header.get("typ") != CHECKPOINT_TYP or jwk is None or jwk.get("alg") != header.get("alg"):
            raise ValueError("not signed by a key the hub publishes for checkpoints")
        claims = jwt.decode(
            token,
            jwt.PyJWK(jwk).key,
            algorithms=[jwk["alg"]],
            issuer=issuer,
            options={"require": ["seq", "hash", *(["iss"] if issuer else [])], "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise ValueError(f"its signature or claims do not verify ({exc})") from None
    return _read_claims(claims)


def _read_claims(claims: dict[str, Any]) -> Checkpoint:
    seq, head = claims.get("seq"), claims.get("hash")
    if type(seq) is not int or not isinstance(head, str):
        raise ValueError("it carries no seq and hash")
    first, root, prev_root = claims.get("first_seq"), claims.get("root"), claims.get("prev_root")
    if root is None:
        return Checkpoint(seq, head)
    if type(first) is not int or not 1 <= first <= seq or not isinstance(root, str) or not isinstance(prev_root, str):
        raise ValueError("its batch (first_seq, root, prev_root) is malformed")
    return Checkpoint(seq, head, first, root, prev_root)


@dataclass(frozen=True, slots=True)
class ProvenReceipt:
    """A committed receipt with what proves it: its batch's checkpoint JWS and its audit path in that batch."""

    link: ChainedReceipt
    checkpoint_token: str
    path: list[bytes]

    def token(self) -> str:
        """The ``Gerbang-Receipt`` value: ``<checkpoint JWS>~<base64url proof JSON>``."""
        link = self.link
        # {"receipt": {...the receipt's fields, seq, prev_hash, hash}, "path": [...]}, written out: the receipt's
        # fields are its canonical JSON (computed again: cheap), the rest numbers, hex and base64url text.
        receipt = canonical(link.receipt)[:-1].decode()
        path = ",".join(f'"{_b64(node)}"' for node in self.path)
        proof = (
            f'{{"receipt":{receipt},"seq":{int(link.seq)},"prev_hash":{_text(str(link.prev_hash))},'
            f'"hash":{_text(str(link.hash))}}},"path":[{path}]}}'
        )
        return f"{self.checkpoint_token}~{_b64(proof.encode())}"


def check_receipt_token(token: str, jwks: dict[str, Any], issuer: str) -> ChainedReceipt:
    """Offline, with the hub's JWKS alone: the checkpoint's signature, the receipt against its chain hash, and its
    audit path against the checkpoint's tree head (RFC 9162 §2.1.3.2). Raises ``ValueError`` when any fails."""
    checkpoint_token, tilde, encoded = token.partition("~")
    if not tilde:
        raise ValueError("not a Gerbang receipt (<checkpoint JWS>~<proof>)")
    keys = {key.get("kid"): key for key in jwks.get("keys", []) if "gerbang_use" not in key}
    checkpoint = check_checkpoint(checkpoint_token, keys.get, issuer)
    if checkpoint.first_seq is None or checkpoint.root is None:
        raise ValueError("the checkpoint signs no batch tree head")
    try:
        proof = json.loads(_unb64(encoded))
        chained = read_chained(proof["receipt"])
        path = [_unb64(node) for node in proof["path"]]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ValueError(f"the receipt's proof is malformed ({exc!r})") from None
    if chain_hash(chained.prev_hash, chained.receipt) != chained.hash:
        raise ValueError("the receipt does not match its chain hash")
    if not checkpoint.first_seq <= chained.seq <= checkpoint.seq:
        raise ValueError("the receipt is not in the batch this checkpoint signs")
    size = checkpoint.seq - checkpoint.first_seq + 1
    leaf = receipt_leaf(chained.seq, chained.hash)
    if root_from_path(chained.seq - checkpoint.first_seq, size, leaf, path).hex() != checkpoint.root:
        raise ValueError("the receipt's audit path does not lead to the signed tree head")
    return chained


def read_chained(data: dict[str, Any]) -> ChainedReceipt:
    fields = {name: data[name] for name in FIELDS if name != "outcome"}
    fields["outcome"] = data.get("outcome")
    return ChainedReceipt(Receipt(**fields), int(data["seq"]), str(data["prev_hash"]), str(data["hash"]))


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> str:
    """base64url without padding (one C call and one translation: every ``Gerbang-Receipt`` encodes several)."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError("not base64url text")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
