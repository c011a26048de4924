"""A flame graph of one Gerbang worker under wrk load (py-spy), for finding what to take off the hot path.

    loadtests/profile.sh [gerbang-bearer] [--seconds 20]

Starts the benchmark's upstream and the chosen target exactly as ``loadtests.bench`` does, drives it
with wrk on the load core, and records the worker with ``py-spy record`` into an SVG.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from loadtests.bench import resolve_policy_dir
from loadtests.harness import nginx
from loadtests.harness.errors import Unavailable
from loadtests.harness.machine import Cores, build_cores
from loadtests.harness.measure import check_answer
from loadtests.harness.process import load_tree, stop_service
from loadtests.harness.targets import TARGETS, Bench, Target, free_port
from loadtests.harness.wrk import run_wrk

RESULTS = Path(__file__).resolve().parent / "results"
KNOWN = {target.name: target for target in TARGETS}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loadtests/profile.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", nargs="?", default="gerbang-bearer", choices=sorted(KNOWN))
    parser.add_argument("--seconds", type=float, default=20.0, help="recording time (default 20, at most 300)")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second (default 200)")
    parser.add_argument("--output", type=Path, default=None, help="output path (default loadtests/results/...)")
    parser.add_argument(
        "--format",
        choices=("flamegraph", "raw"),
        default="flamegraph",
        help="flamegraph (SVG, default) or raw (collapsed stacks: one line per stack and its count)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    seconds = max(1.0, min(args.seconds, 300.0))
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("error: py-spy is not installed (pip install py-spy)", file=sys.stderr)
        return 1
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M")
    suffix = ".svg" if args.format == "flamegraph" else ".txt"
    output = (args.output or RESULTS / f"profile-{stamp}-{args.target}{suffix}").resolve()
    try:
        done = record_under_load(
            KNOWN[args.target],
            seconds,
            [
                py_spy,
                "record",
                "--duration",
                str(int(seconds)),
                "--rate",
                str(args.rate),
                "--format",
                args.format,
                "--output",
                str(output),
                "--nonblocking",
            ],
        )
    except Unavailable as exc:
        print(f"error: {args.target} is not available: {exc.reason}", file=sys.stderr)
        return 1
    if done.returncode != 0:
        print(f"error: py-spy failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
        return 1
    print(f"{'flame graph' if args.format == 'flamegraph' else 'collapsed stacks'}: {output}")
    return 0


def record_under_load(target: Target, seconds: float, record: list[str]) -> subprocess.CompletedProcess[str]:
    """Start the upstream and the target as the benchmark does; record its worker while wrk drives it."""
    cores = build_cores()
    with tempfile.TemporaryDirectory(prefix="gerbang-profile-") as work_dir, ExitStack() as stack:
        bench = start_bench(cores, Path(work_dir), stack)
        endpoint = target.start(bench, stack)
        check_answer(endpoint.request)
        load = threading.Thread(
            target=run_wrk,
            args=(endpoint.request,),
            daemon=True,
            kwargs={"duration": seconds + 4, "connections": 64, "pin": cores.on_load, "script_dir": bench.work},
        )
        load.start()
        worker = _worker_pid(endpoint.services[0].pid)
        done = subprocess.run(
            [*record, "--pid", str(worker)], capture_output=True, text=True, timeout=seconds + 60, check=False
        )
        load.join(timeout=seconds + 30)
        return done


def start_bench(cores: Cores, work: Path, stack: ExitStack) -> Bench:
    """The upstream (nginx ``return 200`` on the load core, stopped with ``stack``) and the ``Bench`` every target
    starts from, as ``loadtests.bench`` sets them up (also used by ``loadtests.latency``)."""
    (work / "logs").mkdir()
    upstream_port = free_port()
    upstream = nginx.start_static("upstream", work / "upstream", upstream_port, cores.on_load, work / "logs")
    stack.callback(stop_service, upstream)
    return Bench(
        cores=cores,
        work=work,
        logs=work / "logs",
        upstream_port=upstream_port,
        policy_dir=resolve_policy_dir(None),
        helpers=[upstream],
    )


def _worker_pid(pid: int) -> int:
    """uvicorn with one worker serves in its own process; with several, profile the first spawned one."""
    for member in load_tree(pid)[1:]:
        if b"spawn_main" in Path(f"/proc/{member}/cmdline").read_bytes():
            return member
    return pid


if __name__ == "__main__":
    sys.exit(main())
