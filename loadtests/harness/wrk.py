"""One bounded wrk run against one URL, parsed into numbers.

wrk (a C load generator) is pinned to the load core; with ``--latency`` it prints the 50th and
99th percentiles from its histogram. Method, headers and body go through a small Lua script so
GET-with-bearer and form POSTs use the same path.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from loadtests.harness.errors import Unavailable
from loadtests.harness.process import raise_priority

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    script: str = ""  # more Lua after the request (e.g. a ``request()`` that varies a header per request)


@dataclass(frozen=True, slots=True)
class WrkRun:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int


def run_wrk(
    request: Request, *, duration: float, connections: int, pin: list[str], script_dir: Path, timeout_s: float = 5.0
) -> WrkRun:
    if shutil.which("wrk") is None:
        raise Unavailable("wrk is not installed (apt-get install -y wrk)")
    script = script_dir / "request.lua"
    script.write_text(_lua(request))
    argv = [
        *pin,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration:g}s",
        f"--timeout={timeout_s:g}s",
        "--latency",
        "-s",
        str(script),
        request.url,
    ]
    # A session of its own, so its scheduling weight can be raised like the servers' (raise_priority).
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    ) as wrk:
        raise_priority(wrk.pid, pin)
        try:
            stdout, stderr = wrk.communicate(timeout=duration + 60)
        except subprocess.TimeoutExpired as exc:
            wrk.kill()
            wrk.communicate()
            raise Unavailable(f"wrk did not finish within {duration + 60:.0f} s") from exc
    if wrk.returncode != 0 or stderr.strip():
        raise Unavailable(f"wrk failed: {(stderr or stdout).strip()[:200]}")
    return parse_wrk(stdout)


def parse_wrk(output: str) -> WrkRun:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rate is None or total is None:
        raise Unavailable(f"cannot read wrk's output: {output.strip()[:200]}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkRun(
        requests_per_s=float(rate.group(1)),
        p50_ms=_percentile_ms(output, "50"),
        p99_ms=_percentile_ms(output, "99"),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(count) for count in socket.groups()) if socket else 0,
    )


def _percentile_ms(output: str, percent: str) -> float:
    found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if found is None:
        return float("nan")
    return float(found.group(1)) * _UNIT_MS[found.group(2)]


def _lua(request: Request) -> str:
    lines = [f"wrk.method = {_lua_string(request.method)}"]
    if request.body:
        lines.append(f"wrk.body = {_lua_string(request.body)}")
    # The spaces matter: "headers[[" would open a long string, not index the table.
    lines += [f"wrk.headers[ {_lua_string(name)} ] = {_lua_string(value)}" for name, value in request.headers.items()]
    return "\n".join(lines) + "\n" + request.script


def _lua_string(value: str) -> str:
    # A long bracket string needs no escaping as long as its closing bracket never occurs inside.
    level = "=" * 3
    while f"]{level}]" in value:
        level += "="
    return f"[{level}[{value}]{level}]"
