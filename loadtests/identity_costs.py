"""Per-request CPU cost of the gateway's identity steps (not a test: numbers for the report).

    python loadtests/identity_costs.py

Measures, on one core: access-token verification (first sight vs. the verified-token cache), assertion
signing (fresh vs. reused), a route lookup, and the OPD-side assertion check.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import jwt

from gateway.assertion import AssertionVerifier
from gateway.assertion_issuer import HubAssertionIssuer
from gateway.authenticate import BearerAuthenticator, RouteAuthenticator
from gateway.jwks import local_keys_from_ring
from gateway.model import RequestHead, Route
from gateway.registry import AppRegistry, RouteSnapshot
from gateway.token_verifier import TokenVerifier
from idp.clock import SystemClock
from idp.keys import KeyRing
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.migrate import upgrade

ISSUER = "http://127.0.0.1:8000"
RESOURCE = f"{ISSUER}/apps/ebudgeting/"
ROUTE = Route(
    slug="ebudgeting",
    opd="bpkad",
    opd_path="/kota/bpkad/",
    upstreams=("http://127.0.0.1:9",),
    auth_mode="bearer",
    resource=RESOURCE,
)


def per_call_us(run: Callable[[int], None], n: int) -> float:
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        run(n)
        rounds.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(rounds)


def per_call_async_us(make: Callable[[], Awaitable[None]], n: int) -> float:
    async def loop(count: int) -> None:
        for _ in range(count):
            await make()

    return per_call_us(lambda count: asyncio.run(loop(count)), n)


async def build_ring(alg: str) -> KeyRing:
    path = Path(tempfile.mkdtemp()) / "bench.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    ring = KeyRing(build_sessionmaker(build_engine(url)), b"x" * 40, alg, SystemClock())
    await ring.load()
    return ring


def claims(now: int, i: int) -> dict[str, object]:
    return {
        "iss": ISSUER,
        "aud": [RESOURCE],
        "sub": "bapenda-sync",
        "client_id": "bapenda-sync",
        "scope": "anggaran",
        "iat": now,
        "exp": now + 600,
        "jti": f"j{i}",
    }


def main() -> None:
    registry = AppRegistry(build_sessionmaker(build_engine("sqlite+aiosqlite://")), ISSUER, SystemClock())
    registry._snapshot = RouteSnapshot(  # noqa: SLF001 - a 201-app table without a database round trip
        by_slug={f"app{i}": ROUTE for i in range(200)} | {"ebudgeting": ROUTE}
    )
    for alg in ("ES256", "RS256"):
        ring = asyncio.run(build_ring(alg))
        now = int(time.time())
        tokens = [ring.sign(claims(now, i), typ="at+jwt") for i in range(2_100)]
        head = RequestHead(
            method="GET",
            path="/apps/ebudgeting/",
            query=b"",
            headers=((b"authorization", f"Bearer {tokens[0]}".encode()),),
            client_ip="127.0.0.1",
            scheme="http",
            host="127.0.0.1",
            request_id="r",
        )
        cold = TokenVerifier(local_keys_from_ring(ring), ISSUER, SystemClock(), cache_size=0)
        it = iter(tokens)
        miss = per_call_async_us(lambda: cold.verify(next(it), RESOURCE), 400)
        warm = TokenVerifier(local_keys_from_ring(ring), ISSUER, SystemClock())
        asyncio.run(warm.verify(tokens[0], RESOURCE))
        hit = per_call_async_us(lambda: warm.verify(tokens[0], RESOURCE), 100_000)
        authenticator = RouteAuthenticator(BearerAuthenticator(warm))
        auth_hit = per_call_async_us(lambda: authenticator.authenticate(ROUTE, head), 100_000)
        principal = asyncio.run(authenticator.authenticate(ROUTE, head))
        fresh = HubAssertionIssuer(ring.sign, ISSUER, SystemClock(), reuse_seconds=0)
        reused = HubAssertionIssuer(ring.sign, ISSUER, SystemClock(), reuse_seconds=5)
        sign = per_call_us(lambda n: [fresh.issue(principal, ROUTE, head) for _ in range(n)], 2_000)
        reuse = per_call_us(lambda n: [reused.issue(principal, ROUTE, head) for _ in range(n)], 100_000)
        assertions = iter([fresh.issue(principal, ROUTE, head) for _ in range(2_100)])
        opd = AssertionVerifier(issuer=ISSUER, audience=RESOURCE, jwks=ring.jwks())
        opd_check = per_call_us(lambda n: [opd.verify(next(assertions)) for _ in range(n)], 400)
        repeated = next(assertions)
        opd_hit = per_call_us(lambda n: [opd.verify(repeated) for _ in range(n)], 100_000)
        public = ring.public_key(ring.active.kid)
        baseline_decode = per_call_us(
            lambda n: [jwt.decode(tokens[0], public, algorithms=[alg], audience=RESOURCE) for _ in range(n)], 2_000
        )
        lookup = per_call_us(
            lambda n: [registry.lookup("127.0.0.1", "/apps/ebudgeting/anggaran/2027") for _ in range(n)], 100_000
        )
        print(
            f"{alg}: pyjwt.decode alone {baseline_decode:.1f} µs | token verify first sight {miss:.1f} µs | "
            f"cached {hit:.2f} µs | authenticate step (cached, no subject lookup) {auth_hit:.2f} µs | "
            f"assertion sign {sign:.1f} µs | reused {reuse:.2f} µs | route lookup {lookup:.2f} µs | "
            f"OPD-side assertion check {opd_check:.1f} µs (repeat {opd_hit:.2f} µs)"
        )


if __name__ == "__main__":
    main()
