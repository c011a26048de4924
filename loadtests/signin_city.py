"""City-size sign-in benchmark: Gerbang as the city runs it, the whole browser sign-in at fixed rates.

    python -m loadtests.signin_city                                 # 1.78 M citizens, 20 and 40 sign-ins/s
    python -m loadtests.signin_city --users 20000 --seconds 20      # small mode (minutes, not hours)

What it does, in order:
1. a fresh PostgreSQL database (``--database``, dropped afterwards), ``gerbang db upgrade``, one OPD, one
   first-party relying party (code + refresh) and one client_credentials integration, through the real CLI;
2. ``--users`` citizens inserted by SQL with one precomputed argon2id hash (OWASP parameters), each signing in
   with a valid Palembang NIK (``loadtests.signin.citizens``);
3. ``gerbang serve --workers N`` behind a simulated load balancer (``X-Forwarded-For``, trusted from 127.0.0.1),
   Redis limits when ``--redis`` is given, the shipped policies (limits included);
4. for each rate in ``--rates``: new citizens arrive open-loop at that rate for ``--seconds`` (authorize → login
   page → password POST → resume → token); reported: completed sign-ins/s, p50/p95/p99 per step, errors by
   kind, server and PostgreSQL CPU per sign-in, rows read and transactions per sign-in (PostgreSQL's own
   counters; the hub's pruner is held back and one pass runs after each window, counted apart:
   ``loadtests.signin.pruning``), worker RSS before and after;
5. refresh-token rotation and client_credentials, closed loop for ``--token-seconds``: requests per second
   and per core of server CPU;
6. with ``--mixed S,R,C``: sign-ins, refreshes and client_credentials at those rates at once for
   ``--mixed-seconds`` while a second job busy-loops for ``--steal-seconds`` (``loadtests.signin.mixed``):
   every 429/503 is counted (none should come from the hub's own stalls).
The load client runs on the same machine: numbers are for comparing runs on one machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from loadtests.harness.errors import Unavailable
from loadtests.harness.gerbang import create_database, drop_database, find_gerbang, run_cli
from loadtests.harness.process import load_cpu_seconds, load_worker_rss_mib, start_service, stop_service, wait_for_http
from loadtests.signin.browser import STEPS, Outcomes, RelyingParty, run_open_loop
from loadtests.signin.citizens import seed_citizens
from loadtests.signin.mixed import run_mixed
from loadtests.signin.pg_counters import backend_cpu_between, read_counters
from loadtests.signin.pinning import parse_cores, services_on, taskset_prefix
from loadtests.signin.pruning import HUB_PRUNES_EVERY, prune_and_count
from loadtests.signin.token_loops import TokenRun, client_credentials_loop, refresh_loop

PASSWORD = "kata-sandi-warga-2026"
REDIRECT_URI = "http://127.0.0.1:9/cb"
STATS_SETTLE = 11.0  # PostgreSQL publishes an idle backend's counters within 10 s


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtests.signin_city", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database",
        default="postgresql://postgres@127.0.0.1:5432",
        help="PostgreSQL server (a fresh database is created and dropped)",
    )
    parser.add_argument("--users", type=int, default=1_780_000, help="citizens seeded by SQL")
    parser.add_argument("--rates", default="20,40", help="sign-ins per second, comma-separated (open loop)")
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of each rate")
    parser.add_argument("--workers", type=int, default=2, help="gerbang serve --workers")
    parser.add_argument("--redis", default="", help="GERBANG_REDIS_URL for the limits (default: in-process)")
    parser.add_argument("--policy-dir", type=Path, help="GERBANG_POLICY_DIR (default: the shipped policies)")
    parser.add_argument("--token-seconds", type=float, default=10.0, help="each closed-loop token run")
    parser.add_argument("--token-concurrency", type=int, default=16)
    parser.add_argument(
        "--mixed",
        default="",
        help="SIGNINS,REFRESHES,CLIENT_CREDENTIALS per second at once, with a CPU thief (loadtests.signin.mixed)",
    )
    parser.add_argument("--mixed-seconds", type=float, default=30.0, help="duration of the mixed run")
    parser.add_argument("--steal-seconds", type=float, default=10.0, help="how long the thief busy-loops")
    parser.add_argument("--steal-processes", type=int, default=1, help="busy-looping processes (1: ~half a core)")
    parser.add_argument(
        "--server-cores", default="", help="pin the hub to these cores, e.g. 0 (loadtests.signin.pinning)"
    )
    parser.add_argument(
        "--other-cores", default="", help="pin PostgreSQL, Redis and the load generator to these cores, e.g. 1"
    )
    parser.add_argument("--out", type=Path, help="also write the report (Markdown) here, and JSON beside it")
    parser.add_argument("--keep", action="store_true", help="keep the database (its URL is printed)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rates = [float(rate) for rate in args.rates.split(",") if rate.strip()]
    except ValueError:
        print(f"--rates: numbers separated by commas, not {args.rates!r}", file=sys.stderr)
        return 2
    if args.users < 1 or not rates or any(rate <= 0 for rate in rates):
        print("--users and every rate must be positive", file=sys.stderr)
        return 2
    try:
        mixed = [float(rate) for rate in args.mixed.split(",")] if args.mixed else []
    except ValueError:
        mixed = [-1.0]
    if mixed and (len(mixed) != 3 or any(rate < 0 for rate in mixed)):
        print(f"--mixed: three rates separated by commas, not {args.mixed!r}", file=sys.stderr)
        return 2
    args.mixed_rates = tuple(mixed)
    try:
        args.server_core_set = parse_cores(args.server_cores) if args.server_cores else None
        args.other_core_set = parse_cores(args.other_cores) if args.other_cores else None
    except ValueError as exc:
        print(f"--server-cores/--other-cores: {exc}", file=sys.stderr)
        return 2
    try:
        report = run(args, rates)
    except Unavailable as exc:
        print(f"benchmark unavailable: {exc}", file=sys.stderr)
        return 1
    text = render(report)
    print(text)
    if args.out:
        args.out.write_text(text)
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=2))
    return 0


def run(args: argparse.Namespace, rates: list[float]) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="gerbang-signin-"))
    database_url = create_database(args.database)
    try:
        return asyncio.run(_run_on(args, rates, root, database_url))
    finally:
        if args.keep:
            print(f"database kept: {database_url}", file=sys.stderr)
        else:
            drop_database(args.database, database_url)


async def _run_on(args: argparse.Namespace, rates: list[float], root: Path, database_url: str) -> dict[str, Any]:
    from idp.passwords import hash_sync

    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {
        "GERBANG_DATABASE_URL": database_url,
        "GERBANG_ISSUER": issuer,
        "GERBANG_DATA_DIR": str(root),
        "GERBANG_SECRET_KEY": secrets.token_hex(32),
        "GERBANG_TRUSTED_PROXIES": '["127.0.0.1/32"]',
        "GERBANG_LOG_LEVEL": "warning",
        "GERBANG_CONFIG": str(root / "absent.toml"),
        "GERBANG_PRUNE_SECONDS": HUB_PRUNES_EVERY,  # the benchmark prunes between windows, counted apart
    }
    if args.policy_dir:
        env["GERBANG_POLICY_DIR"] = str(args.policy_dir.resolve())
    if args.redis:
        env.update(GERBANG_REDIS_URL=args.redis, GERBANG_REDIS_KEY_PREFIX=f"gerbang-bench-{secrets.token_hex(4)}")
    party, service_client = _provision(env, root, issuer)
    seeded_in = await seed_citizens(database_url, args.users, hash_sync(PASSWORD))
    service = start_service(
        "gerbang",
        [find_gerbang(), "serve", "--port", str(port), "--workers", str(args.workers)],
        pin=taskset_prefix(args.server_core_set),
        log_dir=root,
        env=env,
        cwd=root,
        drop_prefix="GERBANG_",
    )
    with services_on(args.other_core_set):
        try:
            cold_start = wait_for_http(service, f"{issuer}/healthz", timeout=60)
            # Below the server's keep-alive timeout (5 s), so the client never reuses a connection the server closes.
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=2.0)
            try:
                warm = await run_open_loop(
                    party,
                    PASSWORD,
                    args.users,
                    2.0,
                    max(3.0, args.token_concurrency / 2),
                    connector,
                    args.token_concurrency,
                )
                rss_before = load_worker_rss_mib(service)
                runs = [await _measure_rate(party, args, rate, service.pid, database_url, connector) for rate in rates]
                tokens = await _measure_tokens(party, service_client, warm.refresh_tokens, args, service.pid, connector)
                mixed = await _measure_mixed(party, service_client, args, connector) if args.mixed_rates else None
                rss_after = load_worker_rss_mib(service)
            finally:
                await connector.close()
        finally:
            stop_service(service)
    return {
        "users": args.users,
        "workers": args.workers,
        "server_cores": args.server_cores or "all",
        "other_cores": args.other_cores or "shared",
        "redis": bool(args.redis),
        "seeded_seconds": seeded_in,
        "cold_start_seconds": cold_start,
        "rss_before_mib": rss_before,
        "rss_after_mib": rss_after,
        "rates": runs,
        "tokens": tokens,
        "mixed": mixed,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _provision(env: dict[str, str], root: Path, issuer: str) -> tuple[RelyingParty, dict[str, str]]:
    run_cli(env, "db", "upgrade", cwd=root)
    run_cli(
        env,
        "opd",
        "add",
        "--slug",
        "diskominfo",
        "--name",
        "Dinas Komunikasi dan Informatika",
        "--kind",
        "dinas",
        "--json",
        cwd=root,
    )
    party = json.loads(
        run_cli(
            env,
            "clients",
            "add",
            "--name",
            "Portal Warga",
            "--opd",
            "diskominfo",
            "--redirect-uri",
            REDIRECT_URI,
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--scope",
            "openid profile",
            "--first-party",
            "--json",
            cwd=root,
        )
    )
    resource = f"{issuer}/apps/api/"
    service = json.loads(
        run_cli(
            env,
            "clients",
            "add",
            "--name",
            "Integrasi",
            "--opd",
            "diskominfo",
            "--grant",
            "client_credentials",
            "--resource",
            resource,
            "--scope",
            "api",
            "--json",
            cwd=root,
        )
    )
    return (
        RelyingParty(issuer, party["client_id"], party["client_secret"], REDIRECT_URI),
        {"client_id": service["client_id"], "client_secret": service["client_secret"], "resource": resource},
    )


async def _measure_rate(
    party: RelyingParty,
    args: argparse.Namespace,
    rate: float,
    server_pid: int,
    database_url: str,
    connector: aiohttp.BaseConnector,
) -> dict[str, Any]:
    pg_before, cpu_before = await read_counters(database_url), load_cpu_seconds(server_pid)
    began = time.monotonic()
    outcomes = await run_open_loop(party, PASSWORD, args.users, rate, args.seconds, connector)
    elapsed = time.monotonic() - began
    cpu_after = load_cpu_seconds(server_pid)
    await asyncio.sleep(STATS_SETTLE)
    pg_after = await read_counters(database_url)
    pruned = await prune_and_count(database_url, STATS_SETTLE)
    done = max(1, outcomes.completed)
    return {
        "offered_per_s": rate,
        "seconds": round(elapsed, 1),
        **_summary(outcomes, elapsed),
        "server_cpu_ms_per_signin": round((cpu_after - cpu_before) * 1000 / done, 1),
        "pg_cpu_ms_per_signin": round(backend_cpu_between(pg_before, pg_after) * 1000 / done, 1),
        "rows_read_per_signin": round((pg_after.rows_read - pg_before.rows_read) / done, 1),
        "transactions_per_signin": round((pg_after.transactions - pg_before.transactions) / done, 1),
        "pruned_after": pruned,
    }


def _summary(outcomes: Outcomes, elapsed: float) -> dict[str, Any]:
    steps = {}
    for step in STEPS:
        values = sorted(outcomes.latencies[step])
        steps[step] = {
            name: round(_percentile(values, q) * 1000, 1)
            for name, q in (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99))
        }
    return {
        "started": outcomes.started,
        "completed": outcomes.completed,
        "completed_per_s": round(outcomes.completed / elapsed, 2),
        "steps": steps,
        "errors": dict(outcomes.errors),
    }


def _percentile(values: list[float], quantile: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(quantile * len(values)))]


async def _measure_tokens(
    party: RelyingParty,
    service: dict[str, str],
    refresh_tokens: list[str],
    args: argparse.Namespace,
    server_pid: int,
    connector: aiohttp.BaseConnector,
) -> dict[str, Any]:
    token_url = f"{party.issuer}/auth/token"
    measured = {}
    for name in ("refresh", "client_credentials"):
        cpu_before = load_cpu_seconds(server_pid)
        if name == "refresh":
            run: TokenRun = await refresh_loop(
                token_url, party.client_id, party.client_secret, refresh_tokens, args.token_seconds, connector
            )
        else:
            run = await client_credentials_loop(
                token_url,
                service["client_id"],
                service["client_secret"],
                service["resource"],
                "api",
                args.token_concurrency,
                args.token_seconds,
                connector,
            )
        cpu = load_cpu_seconds(server_pid) - cpu_before
        measured[name] = {
            "ok": run.ok,
            "per_s": round(run.ok / run.seconds, 1) if run.seconds else 0.0,
            "per_core_s": round(run.ok / cpu, 1) if cpu else 0.0,
            "cpu_ms_each": round(cpu * 1000 / run.ok, 2) if run.ok else None,
            "callers": len(refresh_tokens) if name == "refresh" else args.token_concurrency,
            "errors": dict(run.errors),
        }
    return measured


async def _measure_mixed(
    party: RelyingParty, service: dict[str, str], args: argparse.Namespace, connector: aiohttp.BaseConnector
) -> dict[str, Any]:
    fresh = await run_open_loop(party, PASSWORD, args.users, 8.0, 8.0, connector, 64)  # tokens never rotated yet
    run = await run_mixed(
        party,
        service,
        PASSWORD,
        args.users,
        fresh.refresh_tokens,
        args.mixed_rates,
        args.mixed_seconds,
        args.steal_seconds,
        args.steal_processes,
        connector,
    )
    return {
        "rates": list(args.mixed_rates),
        "seconds": round(run.seconds, 1),
        "steal": {
            "began_s": round(run.steal_began, 1),
            "seconds": run.steal_seconds,
            "processes": args.steal_processes,
        },
        "signins": _summary(run.signins, run.seconds),
        "refresh": {"ok": run.refresh.ok, "answers": dict(run.refresh.errors)},
        "client_credentials": {"ok": run.client_credentials.ok, "answers": dict(run.client_credentials.errors)},
        "refusals": run.refusals(),
    }


def render(report: dict[str, Any]) -> str:
    lines = [
        f"# City sign-in benchmark, {report['when']}",
        "",
        f"{report['users']:,} citizens (seeded by SQL in {report['seeded_seconds']:.0f} s), "
        f"`gerbang serve --workers {report['workers']}` on PostgreSQL, limits "
        f"{'in Redis' if report['redis'] else 'in process'}; cold start {report['cold_start_seconds']:.1f} s; "
        f"worker RSS {_mib(report['rss_before_mib'])} before, {_mib(report['rss_after_mib'])} after. "
        f"Hub on cores: {report.get('server_cores', 'all')}; PostgreSQL, Redis and the clients on: "
        f"{report.get('other_cores', 'shared')}.",
        "",
        "| offered/s | completed/s | errors | server CPU/sign-in | PG CPU/sign-in | rows read | transactions "
        "| then pruned: deleted/read |" + "".join(f" {step} p50/p95/p99 ms |" for step in STEPS),
        "|---:|---:|---|---:|---:|---:|---:|---:|" + "---|" * len(STEPS),
    ]
    for row in report["rates"]:
        errors = ", ".join(f"{kind} ×{count}" for kind, count in row["errors"].items()) or "0"
        cells = [
            f"{row['offered_per_s']:g}",
            f"{row['completed_per_s']:g}",
            errors,
            f"{row['server_cpu_ms_per_signin']} ms",
            f"{row['pg_cpu_ms_per_signin']} ms",
            f"{row['rows_read_per_signin']:g}",
            f"{row['transactions_per_signin']:g}",
            f"{row['pruned_after']['deleted']}/{row['pruned_after']['rows_read']}",
        ]
        cells += ["/".join(f"{row['steps'][step][k]:g}" for k in ("p50_ms", "p95_ms", "p99_ms")) for step in STEPS]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "| token grant | per second | per core of server CPU | CPU each | errors |",
        "|---|---:|---:|---:|---|",
    ]
    for name, row in report["tokens"].items():
        errors = ", ".join(f"{kind} ×{count}" for kind, count in row["errors"].items()) or "0"
        lines.append(
            f"| {name} ({row['callers']} callers) | {row['per_s']:g} | {row['per_core_s']:g} | "
            f"{row['cpu_ms_each']} ms | {errors} |"
        )
    mixed = report.get("mixed")
    if mixed:
        steal = mixed["steal"]
        signins = mixed["signins"]
        lines += [
            "",
            f"Mixed load for {mixed['seconds']:g} s at {'/'.join(f'{r:g}' for r in mixed['rates'])} per second "
            f"(sign-ins/refreshes/client_credentials), a CPU thief of {steal['processes']} process(es) from "
            f"{steal['began_s']:g} s for {steal['seconds']:g} s: **{mixed['refusals']} refusals (429/503)**.",
            "",
            "| load | completed | other answers |",
            "|---|---:|---|",
            f"| sign-ins | {signins['completed']} of {signins['started']} | "
            + (", ".join(f"{k} ×{n}" for k, n in signins["errors"].items()) or "0")
            + " |",
        ]
        for name in ("refresh", "client_credentials"):
            row = mixed[name]
            answers = ", ".join(f"{k} ×{n}" for k, n in row["answers"].items()) or "0"
            lines.append(f"| {name} | {row['ok']} | {answers} |")
        lines.append(
            "| sign-in p50/p95/p99 ms | | "
            + "; ".join(
                f"{step} " + "/".join(f"{signins['steps'][step][k]:g}" for k in ("p50_ms", "p95_ms", "p99_ms"))
                for step in STEPS
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def _mib(values: list[float]) -> str:
    return ", ".join(f"{value:.0f}" for value in values) + " MiB"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
