"""The DPoP pipeline beside the bearer one: per-request CPU of the gateway's authenticate step (not a test).

    python loadtests/dpop_costs.py

Both with the verified-token cache warm (the common case: a client reuses its access token). DPoP adds, per
request, the proof check (header, signature by the cached key of its thumbprint, htm/htu/iat/ath) and one jti
replay-store write (in process here; Redis adds one round trip, ~70–90 µs of latency, ~30 µs of client CPU).
"""

from __future__ import annotations

import asyncio
import base64
import time

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.authenticate import BearerAuthenticator
from gateway.dpop import DpopProofChecker
from gateway.jwks import local_keys_from_ring
from gateway.model import RequestHead, Route
from gateway.token_verifier import TokenVerifier
from idp.clock import SystemClock
from idp.dpop.client import make_proof, thumbprint
from idp.dpop.proof import VERIFIERS
from idp.dpop.replay import MemoryReplayStore
from loadtests.identity_costs import ISSUER, RESOURCE, build_ring, claims, per_call_async_us, per_call_us

URL = f"http://127.0.0.1{'/apps/ebudgeting/anggaran'}"
N = 3_000


def head(scheme: str, token: str, proof: str | None = None) -> RequestHead:
    headers = [(b"host", b"127.0.0.1"), (b"authorization", f"{scheme} {token}".encode())]
    if proof:
        headers.append((b"dpop", proof.encode()))
    return RequestHead(
        method="GET",
        path="/apps/ebudgeting/anggaran",
        query=b"",
        headers=tuple(headers),
        client_ip="127.0.0.1",
        scheme="http",
        host="127.0.0.1",
        request_id="r",
    )


def main() -> None:
    ring = asyncio.run(build_ring("ES256"))
    key = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    bearer_token = ring.sign(claims(now, 1), typ="at+jwt")
    bound_token = ring.sign({**claims(now, 2), "cnf": {"jkt": thumbprint(key)}}, typ="at+jwt")
    verifier = TokenVerifier(local_keys_from_ring(ring), ISSUER, SystemClock())
    authenticator = BearerAuthenticator(verifier, dpop=DpopProofChecker(MemoryReplayStore(), SystemClock()))
    plain = Route(
        slug="ebudgeting",
        opd="bpkad",
        opd_path="/kota/bpkad/",
        upstreams=("http://127.0.0.1:9",),
        auth_mode="bearer",
        resource=RESOURCE,
    )
    bearer_head = head("Bearer", bearer_token)
    asyncio.run(authenticator.authenticate(plain, bearer_head))
    bearer = per_call_async_us(lambda: authenticator.authenticate(plain, bearer_head), N)
    heads = iter(
        [head("DPoP", bound_token, make_proof(key, "GET", URL, access_token=bound_token)) for _ in range(5 * N + 10)]
    )
    asyncio.run(authenticator.authenticate(plain, next(heads)))
    dpop = per_call_async_us(lambda: authenticator.authenticate(plain, next(heads)), N)
    signing_input, _, signature = make_proof(key, "GET", URL).rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    verify = VERIFIERS["ES256"].verify
    public = key.public_key()
    crypto = per_call_us(lambda n: [verify(signing_input.encode(), public, raw) for _ in range(n)], N)
    print(
        f"authenticate step, token cache warm: bearer {bearer:.1f} µs | DPoP (fresh proof each request) "
        f"{dpop:.1f} µs | ratio {dpop / bearer:.1f}x | DPoP adds {dpop - bearer:.0f} µs per request, of which "
        f"the ES256 signature check alone is {crypto:.0f} µs"
    )


if __name__ == "__main__":
    main()
