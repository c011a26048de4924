"""Latency at a fixed offered rate (open loop): p50/p99/p99.9 of nginx and Gerbang's pipelines, in one run.

    python -m loadtests.latency [--rates 1000] [--only nginx,gerbang-bearer] [--seconds 20] [--rounds 3]

The throughput benchmark (``loadtests.bench``) saturates each target with wrk, whose latencies are those of
a queue it keeps full. This asks the other question, the one a city's users feel: at a rate well below
capacity (the issue's bar: 1,000 requests/s to the bearer pipeline, p99 under 5 ms), how long does each
request take, counted from when it was due (``loadtests.harness.open_loop``, no coordinated omission)? Each
target is started exactly as the benchmark starts it (one worker pinned to the target core, the upstream
and the load generator on the other), warmed up, then driven for ``--rounds`` rounds; medians of the rounds
are reported, and the worst round's p99 beside them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from loadtests.harness.errors import Unavailable
from loadtests.harness.machine import Cores, build_cores
from loadtests.harness.measure import check_answer
from loadtests.harness.process import raise_priority
from loadtests.harness.targets import TARGETS, Endpoint
from loadtests.harness.wrk import Request
from loadtests.profile import start_bench

RESULTS = Path(__file__).resolve().parent / "results"
KNOWN = {target.name: target for target in TARGETS if target.kind == "proxy"}
DEFAULT_TARGETS = "nginx,gerbang-none,gerbang-bearer,gerbang-full"


@dataclass(slots=True)
class Row:
    target: str
    rate: float
    rounds: list[dict[str, object]] = field(default_factory=list)
    unavailable: str | None = None

    def median(self, key: str) -> float | None:
        values = [float(r[key]) for r in self.rounds if isinstance(r.get(key), int | float)]
        return round(statistics.median(values), 3) if values else None

    def worst(self, key: str) -> float | None:
        values = [float(r[key]) for r in self.rounds if isinstance(r.get(key), int | float)]
        return round(max(values), 3) if values else None

    def errors(self) -> int:
        return sum(sum(dict(r.get("errors") or {}).values()) for r in self.rounds)  # type: ignore[call-overload]

    def completed(self) -> int:
        return sum(int(r.get("completed") or 0) for r in self.rounds)  # type: ignore[call-overload]


def drive(request: Request, cores: Cores, rate: float, seconds: float) -> dict[str, object]:
    """One open-loop round from the load core."""
    argv = [*cores.on_load, sys.executable, "-m", "loadtests.harness.open_loop", "--url", request.url]
    argv += ["--rate", str(rate), "--seconds", str(seconds)]
    for name, value in request.headers.items():
        argv += ["--header", f"{name}: {value}"]
    # A session of its own at the benchmark's niceness, as wrk runs (``raise_priority``).
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    ) as generator:
        raise_priority(generator.pid, cores.on_load)
        try:
            stdout, stderr = generator.communicate(timeout=seconds + 60)
        except subprocess.TimeoutExpired as exc:
            generator.kill()
            generator.communicate()
            raise Unavailable(f"the load generator did not finish within {seconds + 60:.0f} s") from exc
    if generator.returncode != 0:
        raise Unavailable(f"the load generator failed: {(stderr or stdout).strip()[-300:]}")
    result: dict[str, object] = json.loads(stdout)
    return result


def measure(
    names: list[str], rates: list[float], seconds: float, rounds: int, warmup: float, cores: Cores
) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="gerbang-latency-") as work_dir, ExitStack() as outer:
        bench = start_bench(cores, Path(work_dir), outer)
        for name in names:
            with ExitStack() as stack:
                try:
                    endpoint: Endpoint = KNOWN[name].start(bench, stack)
                    check_answer(endpoint.request)
                    for rate in rates:
                        row = Row(name, rate)
                        rows.append(row)
                        drive(endpoint.request, cores, rate, warmup)
                        for _ in range(rounds):
                            row.rounds.append(drive(endpoint.request, cores, rate, seconds))
                        print(render_line(row), flush=True)
                except Unavailable as exc:
                    rows.append(Row(name, 0, unavailable=exc.reason))
                    print(f"{name:24} unavailable: {exc.reason}", flush=True)
    return rows


def render_line(row: Row) -> str:
    return (
        f"{row.target:24} {row.rate:7,.0f}/s  p50 {row.median('p50_ms')} ms  p99 {row.median('p99_ms')} ms "
        f"(worst {row.worst('p99_ms')})  p99.9 {row.median('p999_ms')} ms  errors {row.errors()}"
    )


def render_report(rows: list[Row], seconds: float, rounds: int, cores: Cores) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Latency at a fixed rate — {stamp}",
        "",
        f"- Open loop (`loadtests.harness.open_loop`, 32 keep-alive connections), {rounds} rounds of {seconds:g} s "
        "after a warm-up; latency counted from when each request was due; medians of the rounds, and the worst "
        "round's p99.",
        f"- Pinning: server on core {cores.target}, the load generator and the upstream (nginx `return 200`) on "
        f"core {cores.load}; Gerbang with one worker, its database a SQLite file.",
        "",
        "| target | offered/s | completed | p50 ms | p90 ms | p99 ms | worst p99 ms | p99.9 ms | max ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if row.unavailable:
            lines.append(f"| {row.target} | | | unavailable: {row.unavailable} | | | | | | |")
            continue
        lines.append(
            f"| {row.target} | {row.rate:,.0f} | {row.completed():,} | {row.median('p50_ms')} | "
            f"{row.median('p90_ms')} | {row.median('p99_ms')} | {row.worst('p99_ms')} | {row.median('p999_ms')} | "
            f"{row.worst('max_ms')} | {row.errors()} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=DEFAULT_TARGETS, help=f"targets (default {DEFAULT_TARGETS})")
    parser.add_argument("--rates", default="1000", help="offered requests/s, comma-separated (default 1000)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per round (default 20)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--nice", type=int, default=-10, help="niceness of every process started (root; 0 = off)")
    parser.add_argument("--results", type=Path, default=None, help="write the report here (default: print only)")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in names if name not in KNOWN]
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {sorted(KNOWN)}")
    rates = [float(rate) for rate in args.rates.split(",")]
    cores = build_cores(args.nice)
    rows = measure(names, rates, args.seconds, args.rounds, args.warmup, cores)
    report = render_report(rows, args.seconds, args.rounds, cores)
    if args.results is not None:
        args.results.write_text(report)
        print(f"report: {args.results}")
    else:
        print(report)
    return 0 if all(row.unavailable is None for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
