"""The DPoP row (RFC 9449): the bearer target's request with a DPoP-bound token and a fresh proof per request.

A proof is single use (its ``jti`` is remembered by the gateway) and signed, which wrk's Lua cannot do, so a
small proof writer (``python -m loadtests.harness.dpop_load``) runs beside wrk on the load core and writes one
proof per line into a FIFO; wrk's ``request()`` reads the next line for each request. The writer is a helper
(its CPU is not the target's); if it cannot keep up, the target core shows idle time in the report.

    token: client_credentials with a DPoP proof at the token endpoint (the nonce round trip included),
           so the access token carries ``cnf.jkt`` of the writer's key;
    proof: {typ: dpop+jwt, alg: ES256, jwk} . {jti, htm: GET, htu: the app's URL, iat, ath}.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from loadtests.harness.errors import Unavailable
from loadtests.harness.process import start_service, stop_service
from loadtests.harness.wrk import Request

if TYPE_CHECKING:
    from loadtests.harness.targets import Bench, Endpoint, Start


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class ProofMaker:
    """ES256 DPoP proofs with cryptography directly: the header is encoded once."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self.key = key
        numbers = key.public_key().public_numbers()
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64(numbers.x.to_bytes(32, "big")),
            "y": b64(numbers.y.to_bytes(32, "big")),
        }
        self.jkt = b64(hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest())
        self._head = b64(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}, separators=(",", ":")).encode())

    def proof(self, method: str, url: str, *, access_token: str | None = None, nonce: str | None = None) -> str:
        claims: dict[str, Any] = {"jti": uuid.uuid4().hex, "htm": method, "htu": url, "iat": int(time.time())}
        if access_token is not None:
            claims["ath"] = b64(hashlib.sha256(access_token.encode()).digest())
        if nonce is not None:
            claims["nonce"] = nonce
        signing_input = f"{self._head}.{b64(json.dumps(claims, separators=(',', ':')).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def fetch_bound_token(token_request: Request, maker: ProofMaker) -> str:
    """client_credentials with a proof; a ``use_dpop_nonce`` answer is retried once with the nonce (§8)."""
    nonce = None
    for _attempt in range(2):
        headers = {**token_request.headers, "DPoP": maker.proof("POST", token_request.url, nonce=nonce)}
        http_request = urllib.request.Request(
            token_request.url, data=token_request.body.encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(http_request, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            nonce = exc.headers.get("DPoP-Nonce")
            detail = exc.read().decode(errors="replace")[:200]
            if nonce is None or "use_dpop_nonce" not in detail:
                raise Unavailable(f"no DPoP-bound token: HTTP {exc.code} {detail}") from exc
            continue
        except (urllib.error.URLError, ValueError) as exc:
            raise Unavailable(f"no DPoP-bound token: {exc}") from exc
        if str(body.get("token_type", "")).lower() != "dpop":
            raise Unavailable(f"the token endpoint did not bind the token: token_type {body.get('token_type')}")
        return str(body["access_token"])
    raise Unavailable("no DPoP-bound token: the nonce was refused twice")


def _lua_reader(fifo: Path) -> str:
    """wrk calls ``request()`` for every request: the next proof from the FIFO as the DPoP header."""
    return f"""
local proofs = nil
local base = {{}}
for name, value in pairs(wrk.headers) do base[name] = value end
function request()
  if proofs == nil then proofs = io.open([[{fifo}]], "r") end
  local headers = {{}}
  for name, value in pairs(base) do headers[name] = value end
  headers["DPoP"] = proofs:read("*l")
  return wrk.format(nil, nil, headers, nil)
end
"""


def with_dpop(start: Start) -> Start:
    """The same target as ``start`` (the bearer row), its token DPoP-bound and every request proven."""

    def started(bench: Bench, stack: ExitStack) -> Endpoint:
        from loadtests.harness import tokens
        from loadtests.harness.targets import Endpoint

        bearer = start(bench, stack)
        site = bench.site()
        key = ec.generate_private_key(ec.SECP256R1())
        maker = ProofMaker(key)
        token = fetch_bound_token(
            tokens.build_token_request(tokens.load_token_endpoint(site.issuer), site.client), maker
        )
        host = bearer.request.headers["Host"]
        url = f"http://{host}/"  # htu: the URL as the client sends it to the app's origin
        fifo = bench.work / "dpop-proofs.fifo"
        if not fifo.exists():
            os.mkfifo(fifo)
        key_file = bench.work / "dpop-key.pem"
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        token_file = bench.work / "dpop-token"
        token_file.write_text(token)
        argv = [
            sys.executable,
            "-m",
            "loadtests.harness.dpop_load",
            "--fifo",
            str(fifo),
            "--key",
            str(key_file),
            "--url",
            url,
            "--token-file",
            str(token_file),
        ]
        writer = start_service(
            "dpop-proofs", argv, pin=bench.cores.on_load, log_dir=bench.logs, cwd=Path(__file__).resolve().parents[2]
        )
        stack.callback(stop_service, writer)
        headers = {
            **bearer.request.headers,
            "Authorization": f"DPoP {token}",
            "DPoP": maker.proof("GET", url, access_token=token),
        }  # the one-request check before the load
        request = Request(bearer.request.url, headers=headers, script=_lua_reader(fifo))
        return Endpoint(request, bearer.services, [*bearer.helpers, writer], bearer.cold_start_s)

    return started


def write_proofs(fifo: Path, maker: ProofMaker, url: str, token: str) -> None:
    """Each wrk run opens the FIFO, reads until it exits; then the next run opens it again."""
    while True:
        try:
            with fifo.open("w", buffering=1 << 16) as out:
                while True:
                    out.write(maker.proof("GET", url, access_token=token) + "\n")
        except BrokenPipeError:
            continue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.harness.dpop_load")
    parser.add_argument("--fifo", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token-file", type=Path, required=True)
    args = parser.parse_args(argv)
    key = serialization.load_pem_private_key(args.key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    write_proofs(args.fifo, ProofMaker(key), args.url, args.token_file.read_text().strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
