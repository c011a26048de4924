"""The benchmark: Gerbang against nginx, a lean Node gateway and node oidc-provider, in one run on this machine.

    python -m loadtests.bench [--only nginx,gerbang-bearer] [--duration 10] [--rounds 3]

Starts a static upstream (nginx ``return 200``, on the load core), then each target in turn alone
on the other core, drives it with wrk, and writes ``loadtests/results/<date>-<host>.md`` (+ .svg,
.json) and ``LATEST.md``. A target that cannot run prints ``not available: <reason>`` and the
rest are measured. All traffic stays on 127.0.0.1; every run is bounded in time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from loadtests.harness import nginx
from loadtests.harness.errors import Unavailable
from loadtests.harness.machine import build_cores, load_machine_facts, load_tool_version
from loadtests.harness.measure import Plan, Result, measure_target
from loadtests.harness.process import stop_service
from loadtests.harness.report import load_raw, write_report
from loadtests.harness.targets import TARGETS, Bench, Target, free_port

RESULTS = Path(__file__).resolve().parent / "results"
SHIPPED_POLICIES = Path(__file__).resolve().parent / "policies" / "city"


def build_parser() -> argparse.ArgumentParser:
    names = ", ".join(target.name for target in TARGETS)
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help=f"comma-separated targets (default: all): {names}")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per target; medians are reported (default 3)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections, the same for every target")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of unrecorded load first (default 2)")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        help="seconds to wait before each target for other processes to go quiet (default 10)",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=-10,
        choices=range(-20, 1),
        metavar="N",
        help="niceness of every process the benchmark starts, when run as root (default -10; "
        "0 = off): a shared machine's other work then disturbs the rounds less",
    )
    parser.add_argument(
        "--policy-dir",
        type=Path,
        default=None,
        help="policy set for gerbang-full (default: $GERBANG_POLICY_DIR, else loadtests/policies/city/)",
    )
    parser.add_argument(
        "--database",
        default=None,
        metavar="URL",
        help="a PostgreSQL server (postgresql://user@host:port) for Gerbang's database: a fresh "
        "database is made there and dropped afterwards (default: a SQLite file)",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the report goes")
    parser.add_argument("--no-report", action="store_true", help="print the table only; write no files")
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="JSON",
        help="measure nothing: write the report again from a run's raw .json",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.render is not None:
        print(f"report: {write_report(*load_raw(args.render), args.results)}")
        return 0
    chosen = _chosen_targets(args.only)
    if chosen is None:
        return 2
    if not 1 <= args.rounds <= 20 or not 1 <= args.duration <= 300 or not 1 <= args.connections <= 10_000:
        print("error: --rounds 1..20, --duration 1..300 s, --connections 1..10000", file=sys.stderr)
        return 2
    plan = Plan(
        duration=args.duration,
        rounds=args.rounds,
        connections=args.connections,
        warmup=args.warmup,
        quiet_wait=max(0.0, min(args.quiet_wait, 600.0)),
    )
    cores = build_cores(niceness=args.nice)
    facts = load_machine_facts(
        {
            "nginx": load_tool_version(["nginx", "-v"]).removeprefix("nginx version: "),
            "node": "node " + load_tool_version(["node", "--version"]),
            "wrk": load_tool_version(["wrk", "--version"]).split(" [")[0],
            "database": "Gerbang's database: " + ("a fresh PostgreSQL database" if args.database else "a SQLite file"),
        }
    )
    with tempfile.TemporaryDirectory(prefix="gerbang-bench-") as work_dir, ExitStack() as stack:
        work = Path(work_dir)
        (work / "logs").mkdir()
        upstream_port = free_port()
        try:
            upstream = nginx.start_static("upstream", work / "upstream", upstream_port, cores.on_load, work / "logs")
        except Unavailable as exc:
            print(f"error: the upstream cannot start: {exc.reason}", file=sys.stderr)
            return 1
        stack.callback(stop_service, upstream)
        bench = Bench(
            cores=cores,
            work=work,
            logs=work / "logs",
            upstream_port=upstream_port,
            policy_dir=resolve_policy_dir(args.policy_dir),
            helpers=[upstream],
            database_server=args.database,
        )
        stack.callback(bench.close)  # runs after every target's own stack has stopped its processes
        results = [_announce(measure_target(target, bench, plan)) for target in chosen]
    if not args.no_report:
        report = write_report(results, facts, cores, plan, args.results)
        print(f"report: {report}")
    return 0


def _chosen_targets(only: str) -> list[Target] | None:
    if not only:
        return list(TARGETS)
    wanted = [name.strip() for name in only.split(",") if name.strip()]
    known = {target.name: target for target in TARGETS}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        print(f"error: unknown target(s) {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return None
    return [known[name] for name in wanted]


def resolve_policy_dir(given: Path | None) -> Path | None:
    if given is not None:
        return given.resolve()
    from_env = os.environ.get("GERBANG_POLICY_DIR")
    if from_env:
        return Path(from_env).resolve()
    return SHIPPED_POLICIES if SHIPPED_POLICIES.is_dir() else None


def _announce(result: Result) -> Result:
    if result.unavailable is not None:
        print(f"{result.name:<20} not available: {result.unavailable}", flush=True)
    else:
        print(
            f"{result.name:<20} {result.requests_per_s:>10,.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
            f"p99 {result.p99_ms:6.2f} ms  {result.cpu_us:5.0f} µs CPU/req  core busy {result.busy:4.0%}  "
            f"others {result.foreign:4.0%}  non-2xx {result.non_2xx}  socket errors {result.socket_errors}  "
            f"RSS {'/'.join(f'{rss:.0f}' for rss in result.rss_mib)} MiB"
            + (f"  cold start {result.cold_start_s:.2f} s" if result.cold_start_s is not None else ""),
            flush=True,
        )
    return result


if __name__ == "__main__":
    sys.exit(main())
