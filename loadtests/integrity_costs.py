"""What integrity costs per request and per byte, on one core (not a test).

    python -m loadtests.integrity_costs

- SHA-256 throughput (MB/s per core) over large bodies in 64 KiB pieces, as the gateway hashes a stream;
- the RFC 9421 signature of one forwarded request (``RequestSigner.build_headers``: ES256 over the signature base);
- the app's check of it (``MessageSignatureVerifier.verify``, replay cache included);
- a receipt: its chain hash, its share of its batch's Merkle tree and signed checkpoint (one ES256 JWS per batch),
  and its ``Gerbang-Receipt`` (the checkpoint JWS plus its audit path, encoded per receipt).

The end-to-end req/s of the ``signed`` and ``ledger`` pipelines beside the bearer one are in the benchmark
(``python -m loadtests.bench --only gerbang-bearer,gerbang-signed,gerbang-ledger``).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.integrity.http_signatures import MessageSignatureVerifier, format_content_digest
from gateway.integrity.merkle import build_tree, receipt_leaf
from gateway.integrity.receipts import (
    CHECKPOINT_TYP,
    ChainedReceipt,
    Checkpoint,
    ProvenReceipt,
    Receipt,
    build_checkpoint_claims,
    chain_hash,
)
from gateway.integrity.signer import RequestSigner
from idp.clock import SystemClock

ORIGIN = "https://e-budgeting.apps.palembang.go.id"
BATCH = 64  # receipts per batch under load (64 connections)


@dataclass
class Key:
    kid: str
    private_key: ec.EllipticCurvePrivateKey


def hashing_mb_per_s(total: int = 512 << 20, piece: int = 64 << 10) -> float:
    data = b"\x5a" * piece
    started = time.perf_counter()
    digest = hashlib.sha256()
    for _ in range(total // piece):
        digest.update(data)
    digest.digest()
    return total / (time.perf_counter() - started) / 1e6


def per_call_us(function: object, n: int = 3000) -> float:
    started = time.perf_counter()
    for _ in range(n):
        function()  # type: ignore[operator]
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    key = Key("msg", ec.generate_private_key(ec.SECP256R1()))
    signer = RequestSigner(lambda: key, SystemClock())
    body = b'{"tahun": 2027}'
    digest = format_content_digest(hashlib.sha256(body).digest())
    sign = lambda: signer.build_headers("POST", ORIGIN + "/api/anggaran", "a.b.c", "req", digest)  # noqa: E731
    verifier = MessageSignatureVerifier({"msg": key.private_key.public_key()}.get, [ORIGIN])
    requests = [dict(sign() + [("x-gerbang-assertion", "a.b.c"), ("x-request-id", "req")]) for _ in range(3000)]
    pending = iter(requests)
    verify = lambda: verifier.verify("POST", "/api/anggaran", next(pending), body)  # noqa: E731
    receipt = Receipt("req", 0, "e-budgeting", "c", None, "POST", "/api/anggaran", "0" * 64, "1" * 64, 200, "2" * 64, 1)
    chained = ChainedReceipt(receipt, 1, "0" * 64, chain_hash("0" * 64, receipt))
    jws_key = ec.generate_private_key(ec.SECP256R1())
    checkpoint = build_checkpoint_claims(Checkpoint(BATCH, chained.hash, 1, "3" * 64, "0" * 64), ORIGIN, 0)

    def sign_batch() -> None:
        build_tree([receipt_leaf(seq, chained.hash) for seq in range(1, BATCH + 1)])
        jwt.encode(checkpoint, jws_key, "ES256", headers={"typ": CHECKPOINT_TYP})

    token = jwt.encode(checkpoint, jws_key, "ES256", headers={"typ": CHECKPOINT_TYP})
    proven = ProvenReceipt(chained, token, build_tree([receipt_leaf(1, chained.hash)] * BATCH)[1][0])
    rows = [
        ("SHA-256, 64 KiB pieces", f"{hashing_mb_per_s():,.0f} MB/s per core"),
        ("sign one request (RFC 9421, ES256)", f"{per_call_us(sign):.1f} µs"),
        ("verify one request at the app (+ replay cache)", f"{per_call_us(verify):.1f} µs"),
        ("receipt chain hash", f"{per_call_us(lambda: chain_hash('0' * 64, receipt)):.1f} µs"),
        (f"batch tree + checkpoint JWS, per receipt ({BATCH})", f"{per_call_us(sign_batch, 300) / BATCH:.1f} µs"),
        ("Gerbang-Receipt (checkpoint + audit path)", f"{per_call_us(proven.token):.1f} µs"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
