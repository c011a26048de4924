"""The benchmark's own parts that need no load: its command line, reading wrk's output, its wrk scripts."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtests.bench import main
from loadtests.harness.errors import Unavailable
from loadtests.harness.measure import Result
from loadtests.harness.report import build_goals
from loadtests.harness.wrk import Request, WrkRun, _lua, parse_wrk

ROOT = Path(__file__).resolve().parents[2]

WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:40001/apps/api/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.32ms  402.11us  12.05ms   91.20%
    Req/Sec    48.91k     2.01k   52.30k    80.00%
  Latency Distribution
     50%    1.21ms
     75%    1.40ms
     90%    1.71ms
     99%  850.00us
  486612 requests in 10.00s, 80.31MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  48655.20
Transfer/sec:      8.03MB
"""


def test_help_runs_without_starting_anything() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "loadtests.bench", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--only" in done.stdout and "gerbang-bearer" in done.stdout


def test_unknown_target_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--only", "nginx,apache"]) == 2
    assert "unknown target(s) apache" in capsys.readouterr().err


def test_wrk_output_is_read_into_numbers() -> None:
    run = parse_wrk(WRK_OUTPUT)
    assert run.requests_per_s == 48655.20
    assert run.requests == 486612
    assert run.p50_ms == pytest.approx(1.21)
    assert run.p99_ms == pytest.approx(0.85)  # microseconds are converted
    assert (run.non_2xx, run.socket_errors) == (7, 3)


def test_unreadable_wrk_output_makes_the_target_unavailable() -> None:
    with pytest.raises(Unavailable, match="cannot read wrk's output"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_wrk_script_carries_method_headers_and_body_verbatim() -> None:
    body = "grant_type=client_credentials&resource=x]===]y"  # a closing bracket at the default level
    script = _lua(Request("http://x/token", "POST", {"Authorization": "Basic YTpi"}, body))
    assert "wrk.method = [===[POST]===]" in script
    assert "wrk.headers[ [===[Authorization]===] ] = [===[Basic YTpi]===]" in script
    assert f"wrk.body = [====[{body}]====]" in script


def _measured(name: str, requests_per_s: float, rss: list[float] | None = None) -> Result:
    run = WrkRun(
        requests_per_s=requests_per_s,
        p50_ms=1.0,
        p99_ms=2.0,
        requests=int(requests_per_s * 10),
        non_2xx=0,
        socket_errors=0,
    )
    return Result(name, name, "proxy", runs=[run], rss_mib=rss or [], cold_start_s=1.5 if rss else None)


def test_the_issues_bars_are_checked_against_the_run() -> None:
    measured = {
        "nginx": _measured("nginx", 1000.0),
        "gerbang-bearer": _measured("gerbang-bearer", 200.0, [120.0]),
        "gerbang-2w": _measured("gerbang-2w", 300.0, [110.0, 110.0]),
    }
    measured["gerbang-2w"].cold_start_s = 3.5  # workers start one after another: not the one-process bar
    lines = build_goals(measured)
    assert "| bearer pipeline >= 15 % of nginx req/s | 0.20x | yes |" in lines
    assert "| memory per Gerbang worker < 100 MiB | 120 MiB | **no** |" in lines
    assert "| cold start < 2 s (one worker) | 1.50 s | yes |" in lines
    assert "| token endpoint on par with oidc-provider |  | not measured |" in lines
    assert "| bearer pipeline >= 35 % of nginx req/s | 0.20x | **no** |" in lines


def test_the_ledger_bar_is_against_the_bearer_pipeline_and_the_token_p99_against_the_peers() -> None:
    measured = {
        "gerbang-bearer": _measured("gerbang-bearer", 200.0),
        "gerbang-ledger": _measured("gerbang-ledger", 130.0),
        "token-gerbang": _measured("token-gerbang", 150.0),
        "token-oidc-provider": _measured("token-oidc-provider", 100.0),
    }
    measured["token-gerbang"].runs[0] = dataclasses.replace(measured["token-gerbang"].runs[0], p99_ms=4.0)  # 2x
    lines = build_goals(measured)
    assert "| ledger pipeline >= 60 % of the bearer pipeline's req/s | 0.65x | yes |" in lines
    assert "| token endpoint 1.5x oidc-provider | 1.50x | yes |" in lines
    assert "| token endpoint p99 no worse than oidc-provider's | 0.50x | **no** |" in lines


def test_the_dpop_row_is_compared_with_the_bearer_row() -> None:
    measured = {"gerbang-bearer": _measured("gerbang-bearer", 200.0), "gerbang-dpop": _measured("gerbang-dpop", 150.0)}
    lines = build_goals(measured)
    assert "| DPoP pipeline vs bearer pipeline, req/s | 0.75x |" in lines


def test_dpop_proofs_of_the_bench_pass_the_gateways_own_check() -> None:
    """The proof writer's proofs are what the gateway accepts (idp.dpop.proof, the same check), each one new."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from idp.dpop.proof import KeyCache, ProofWindow, check_proof
    from loadtests.harness.dpop_load import ProofMaker, _lua_reader

    maker = ProofMaker(ec.generate_private_key(ec.SECP256R1()))
    url = "http://api.localhost:8000/"
    proofs = [maker.proof("GET", url, access_token="token-value") for _ in range(3)]
    checked = [
        check_proof(
            p,
            method="GET",
            url=url,
            now=int(time.time()),
            window=ProofWindow(),
            keys=KeyCache(),
            access_token="token-value",
        )
        for p in proofs
    ]
    assert len({c.jti for c in checked}) == 3 and {c.jkt for c in checked} == {maker.jkt}
    script = _lua(Request(url, headers={"Authorization": "DPoP token-value"}, script=_lua_reader(Path("/tmp/f"))))
    assert "function request()" in script and 'headers["DPoP"] = proofs:read("*l")' in script
