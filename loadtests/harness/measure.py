"""Measuring one target: start it, check one answer, warm up, N rounds of wrk, CPU and memory, stop it."""

from __future__ import annotations

import statistics
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field

from loadtests.harness.errors import Unavailable
from loadtests.harness.process import load_cpu_seconds, load_worker_rss_mib
from loadtests.harness.targets import Bench, Target
from loadtests.harness.wrk import Request, WrkRun, run_wrk


@dataclass(frozen=True, slots=True)
class Plan:
    duration: float
    rounds: int
    connections: int
    warmup: float


@dataclass(slots=True)
class Result:
    name: str
    title: str
    kind: str
    unavailable: str | None = None
    runs: list[WrkRun] = field(default_factory=list)
    cpu_us_per_request: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    cold_start_s: float | None = None

    @property
    def requests_per_s(self) -> float:
        return statistics.median(run.requests_per_s for run in self.runs)

    @property
    def p50_ms(self) -> float:
        return statistics.median(run.p50_ms for run in self.runs)

    @property
    def p99_ms(self) -> float:
        return statistics.median(run.p99_ms for run in self.runs)

    @property
    def cpu_us(self) -> float:
        return statistics.median(self.cpu_us_per_request) if self.cpu_us_per_request else float("nan")

    @property
    def failed_responses(self) -> int:
        return sum(run.non_2xx + run.socket_errors for run in self.runs)


def measure_target(target: Target, bench: Bench, plan: Plan) -> Result:
    result = Result(target.name, target.title, target.kind)
    try:
        with ExitStack() as stack:
            endpoint = target.start(bench, stack)
            result.cold_start_s = endpoint.cold_start_s
            check_answer(endpoint.request)
            scripts = bench.work / "wrk"
            scripts.mkdir(exist_ok=True)
            if plan.warmup > 0:
                run_wrk(endpoint.request, duration=plan.warmup, connections=plan.connections,
                        cores=bench.cores.load, script_dir=scripts)
            for _round in range(plan.rounds):
                before = sum(load_cpu_seconds(service.pid) for service in endpoint.services)
                run = run_wrk(endpoint.request, duration=plan.duration, connections=plan.connections,
                              cores=bench.cores.load, script_dir=scripts)
                spent = sum(load_cpu_seconds(service.pid) for service in endpoint.services) - before
                result.runs.append(run)
                result.cpu_us_per_request.append(spent * 1e6 / max(run.requests, 1))
            result.rss_mib = [rss for service in endpoint.services for rss in load_worker_rss_mib(service)]
    except Unavailable as exc:
        result.unavailable = exc.reason
        result.runs.clear()
    return result


def check_answer(request: Request) -> None:
    """One request before the load: a target that answers anything but 200 is not measured."""
    http_request = urllib.request.Request(request.url, data=request.body.encode() or None, headers=request.headers,
                                          method=request.method)
    try:
        with urllib.request.urlopen(http_request, timeout=10) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace").strip().replace("\n", " ")[:160]
        raise Unavailable(f"{request.method} {request.url} answered {exc.code}: {body}") from exc
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        raise Unavailable(f"{request.method} {request.url} failed: {exc}") from exc
