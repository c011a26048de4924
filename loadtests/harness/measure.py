"""Measuring one target: start it, check one answer, warm up, N rounds of wrk, CPU and memory, stop it."""

from __future__ import annotations

import os
import statistics
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from loadtests.harness.errors import Unavailable
from loadtests.harness.process import (
    Service,
    load_busy_cpu_seconds,
    load_children_cpu_seconds,
    load_cpu_seconds,
    load_worker_rss_mib,
)
from loadtests.harness.targets import Bench, Endpoint, Target
from loadtests.harness.wrk import Request, WrkRun, run_wrk


@dataclass(frozen=True, slots=True)
class Plan:
    duration: float
    rounds: int
    connections: int
    warmup: float
    quiet_wait: float = 0.0  # seconds to wait, before each target, for other processes to calm down


@dataclass(slots=True)
class Result:
    name: str
    title: str
    kind: str
    unavailable: str | None = None
    runs: list[WrkRun] = field(default_factory=list)
    cpu_us_per_request: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    target_busy: list[float] = field(default_factory=list)  # target CPU seconds per second (1.0 = one core)
    foreign_busy: list[float] = field(default_factory=list)  # other processes' share of the machine
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
    def non_2xx(self) -> int:
        return sum(run.non_2xx for run in self.runs)

    @property
    def socket_errors(self) -> int:
        return sum(run.socket_errors for run in self.runs)

    @property
    def busy(self) -> float:
        return statistics.median(self.target_busy) if self.target_busy else float("nan")

    @property
    def foreign(self) -> float:
        return max(self.foreign_busy) if self.foreign_busy else float("nan")


def measure_target(target: Target, bench: Bench, plan: Plan) -> Result:
    result = Result(target.name, target.title, target.kind)
    try:
        with ExitStack() as stack:
            endpoint = target.start(bench, stack)
            result.cold_start_s = endpoint.cold_start_s
            check_answer(endpoint.request)
            scripts = bench.work / "wrk"
            scripts.mkdir(exist_ok=True)
            _check_wrk_request(endpoint.request, bench, scripts)
            if plan.warmup > 0:
                run_wrk(
                    endpoint.request,
                    duration=plan.warmup,
                    connections=plan.connections,
                    pin=bench.cores.on_load,
                    script_dir=scripts,
                )
            wait_for_quiet(plan.quiet_wait, [*endpoint.services, *endpoint.helpers, *bench.helpers])
            for _round in range(plan.rounds):
                result.runs.append(_round_of_load(endpoint, bench, plan, scripts, result))
            result.rss_mib = [rss for service in endpoint.services for rss in load_worker_rss_mib(service)]
    except Unavailable as exc:
        result.unavailable = exc.reason
        result.runs.clear()
    return result


def _round_of_load(endpoint: Endpoint, bench: Bench, plan: Plan, scripts: Path, result: Result) -> WrkRun:
    """One wrk round; also the target's CPU per request and the share of CPU that others used meanwhile."""
    helpers = [*endpoint.helpers, *bench.helpers]

    def ours() -> tuple[float, float]:
        target = sum(load_cpu_seconds(service.pid) for service in endpoint.services)
        rest = sum(load_cpu_seconds(service.pid) for service in helpers) + load_children_cpu_seconds()
        return target, rest

    busy_before, (target_before, rest_before), started = load_busy_cpu_seconds(), ours(), time.monotonic()
    run = run_wrk(
        endpoint.request,
        duration=plan.duration,
        connections=plan.connections,
        pin=bench.cores.on_load,
        script_dir=scripts,
    )
    busy_after, (target_after, rest_after), elapsed = load_busy_cpu_seconds(), ours(), time.monotonic() - started
    target_spent = target_after - target_before
    foreign = (busy_after - busy_before) - target_spent - (rest_after - rest_before)
    result.cpu_us_per_request.append(target_spent * 1e6 / max(run.requests, 1))
    result.target_busy.append(target_spent / elapsed)
    result.foreign_busy.append(max(foreign, 0.0) / (elapsed * (os.cpu_count() or 1)))
    return run


def _check_wrk_request(request: Request, bench: Bench, scripts: Path) -> None:
    """One second at one connection: the request wrk sends must succeed before it is measured."""
    probe = run_wrk(request, duration=1, connections=1, pin=bench.cores.on_load, script_dir=scripts)
    if probe.non_2xx or probe.socket_errors or probe.requests == 0:
        raise Unavailable(
            f"wrk's request fails: {probe.non_2xx} non-2xx, {probe.socket_errors} socket errors "
            f"in {probe.requests} requests"
        )


QUIET_SHARE = 0.10  # other processes using under 10 % of the machine


def wait_for_quiet(max_wait: float, ours: list[Service]) -> None:
    """Wait (at most ``max_wait`` s) for one second in which others use under QUIET_SHARE of the machine.

    The machine may be shared (test suites, builds); a benchmark run beside them measures them too.
    """
    deadline = time.monotonic() + max_wait
    share = 0.0
    while time.monotonic() < deadline:
        busy, mine = load_busy_cpu_seconds(), sum(load_cpu_seconds(service.pid) for service in ours)
        time.sleep(1.0)
        spent = load_busy_cpu_seconds() - busy - (sum(load_cpu_seconds(service.pid) for service in ours) - mine)
        share = spent / (os.cpu_count() or 1)
        if share < QUIET_SHARE:
            return
    if max_wait > 0:
        print(f"  (machine still busy: others used {share:.0%} of it; measuring anyway)", flush=True)


def check_answer(request: Request) -> None:
    """One request before the load: a target that answers anything but 200 is not measured."""
    http_request = urllib.request.Request(
        request.url, data=request.body.encode() or None, headers=request.headers, method=request.method
    )
    try:
        with urllib.request.urlopen(http_request, timeout=10) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace").strip().replace("\n", " ")[:160]
        raise Unavailable(f"{request.method} {request.url} answered {exc.code}: {body}") from exc
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        raise Unavailable(f"{request.method} {request.url} failed: {exc}") from exc
