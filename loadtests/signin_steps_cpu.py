"""Server CPU per sign-in step, the password check apart: two builds of the hub side by side, alternated.

    python -m loadtests.signin_steps_cpu --base-cli ../signin-base/.venv/bin/gerbang --signins 80 --rounds 4

One PostgreSQL database (provisioned and seeded as ``loadtests.signin_city`` does), one ``gerbang serve --workers 1``
per build on it (``--base-cli``, and this checkout's ``gerbang``). Each round runs ``--signins`` browser sign-ins one
after the other against each build in turn (the order alternates), and reads the server's CPU from the kernel's
per-thread counters (``/proc/<pid>/task/*/schedstat``) at each step's end: the event loop (the main thread:
everything but the password check) and the other threads (argon2id runs in the thread pool). CPU time, not wall
time: other jobs on the machine slow a step down but do not add to its count (they still blur it: compare builds
alternated in one run). Medians over all sign-ins per build, and the event loop's ratio new/base per round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from loadtests.harness.gerbang import create_database, drop_database, find_gerbang
from loadtests.harness.process import Service, start_service, stop_service, wait_for_http
from loadtests.signin import browser
from loadtests.signin.citizens import nik_of, seed_citizens
from loadtests.signin_city import PASSWORD, REDIRECT_URI, _free_port, _provision

Sample = dict[str, tuple[float, float]]  # step → (event loop ms, other threads ms)


class _StepClock(list[float]):
    """A step's latency list that also reads the server's CPU counters when the step ends."""

    def __init__(self, step: str, ended: dict[str, tuple[int, int]], pid: int) -> None:
        super().__init__()
        self.step, self.ended, self.pid = step, ended, pid

    def append(self, value: float) -> None:
        super().append(value)
        self.ended[self.step] = thread_cpu_ns(self.pid)


def thread_cpu_ns(pid: int) -> tuple[int, int]:
    """CPU nanoseconds of the process's main thread and of all its other threads."""
    main = other = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            spent = int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if int(task) == pid:
            main += spent
        else:
            other += spent
    return main, other


async def measure(
    party: browser.RelyingParty, pid: int, users: int, count: int, connector: aiohttp.BaseConnector
) -> list[Sample]:
    samples = []
    for index in range(count):
        citizen = 1 + (index * 7919 + time.monotonic_ns() // 1000) % users
        ended: dict[str, tuple[int, int]] = {}
        outcomes = browser.Outcomes()
        outcomes.latencies = {step: _StepClock(step, ended, pid) for step in browser.STEPS}
        address = f"10.9.{citizen >> 8 & 255}.{citizen & 255}"
        async with aiohttp.ClientSession(
            connector=connector,
            connector_owner=False,
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            headers={"X-Forwarded-For": address},
        ) as http:
            began = thread_cpu_ns(pid)
            await browser._sign_in(http, party, nik_of(citizen), PASSWORD, outcomes)
        sample, previous = {}, began
        for step in browser.STEPS:
            now = ended[step]
            sample[step] = ((now[0] - previous[0]) / 1e6, (now[1] - previous[1]) / 1e6)
            previous = now
        samples.append(sample)
    return samples


def summary(samples: list[Sample]) -> str:
    loop = {step: statistics.median(sample[step][0] for sample in samples) for step in browser.STEPS}
    total_loop = statistics.median(sum(sample[step][0] for step in browser.STEPS) for sample in samples)
    total_other = statistics.median(sum(sample[step][1] for step in browser.STEPS) for sample in samples)
    steps = " ".join(f"{step} {loop[step]:.2f}" for step in browser.STEPS)
    return f"event loop {total_loop:.2f} ms, other threads {total_other:.2f} ms | event loop per step: {steps}"


async def run(args: argparse.Namespace, database_url: str) -> None:
    from idp.passwords import hash_sync

    root = Path(tempfile.mkdtemp(prefix="gerbang-steps-"))
    builds = {"base": str(args.base_cli), "new": find_gerbang()}
    envs = {}
    for name in builds:
        (root / name).mkdir()
        issuer = f"http://127.0.0.1:{_free_port()}"
        envs[name] = {
            "GERBANG_DATABASE_URL": database_url,
            "GERBANG_ISSUER": issuer,
            "GERBANG_DATA_DIR": str(root / name),
            "GERBANG_SECRET_KEY": "5e" * 32,
            "GERBANG_TRUSTED_PROXIES": '["127.0.0.1/32"]',
            "GERBANG_LOG_LEVEL": "warning",
            "GERBANG_CONFIG": str(root / "absent.toml"),
            "GERBANG_PRUNE_SECONDS": "86400",
        }
    provisioned, _service = _provision(envs["new"], root / "new", envs["new"]["GERBANG_ISSUER"])
    await seed_citizens(database_url, args.users, hash_sync(PASSWORD))
    parties = {
        name: browser.RelyingParty(
            envs[name]["GERBANG_ISSUER"], provisioned.client_id, provisioned.client_secret, REDIRECT_URI
        )
        for name in builds
    }
    services: dict[str, Service] = {}
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=2.0)
    try:
        for name, cli in builds.items():
            port = envs[name]["GERBANG_ISSUER"].rsplit(":", 1)[1]
            services[name] = start_service(
                f"gerbang-{name}",
                [cli, "serve", "--port", port, "--workers", "1"],
                pin=[],
                log_dir=root / name,
                env=envs[name],
                cwd=root / name,
                drop_prefix="GERBANG_",
            )
            wait_for_http(services[name], envs[name]["GERBANG_ISSUER"] + "/healthz", timeout=60)
        for name in builds:
            await measure(parties[name], services[name].pid, args.users, args.warmup, connector)
        results: dict[str, list[list[Sample]]] = {name: [] for name in builds}
        for round_index in range(args.rounds):
            order = list(builds) if round_index % 2 == 0 else list(builds)[::-1]
            for name in order:
                samples = await measure(parties[name], services[name].pid, args.users, args.signins, connector)
                results[name].append(samples)
                print(f"{time.strftime('%H:%M:%S')} round {round_index + 1} {name}: {summary(samples)}", flush=True)
        for name in builds:
            print(f"{name}, all rounds: {summary([s for samples in results[name] for s in samples])}")
        ratios = [
            statistics.median(sum(s[step][0] for step in browser.STEPS) for s in new)
            / statistics.median(sum(s[step][0] for step in browser.STEPS) for s in base)
            for base, new in zip(results["base"], results["new"], strict=True)
        ]
        print("event loop new/base per round: " + ", ".join(f"{ratio:.2f}" for ratio in ratios))
    finally:
        await connector.close()
        for service in services.values():
            stop_service(service)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.signin_steps_cpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-cli", type=Path, required=True, help="the other build's gerbang command")
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server")
    parser.add_argument("--users", type=int, default=2000, help="citizens seeded by SQL")
    parser.add_argument("--signins", type=int, default=80, help="sign-ins per build per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=20, help="sign-ins per build before the first round")
    args = parser.parse_args(argv)
    database_url = create_database(args.database)
    try:
        asyncio.run(run(args, database_url))
    finally:
        drop_database(args.database, database_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
