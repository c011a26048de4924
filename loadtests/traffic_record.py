"""Micro-benchmark of the traffic recorder's hot path (never run by the test suite).

    python loadtests/traffic_record.py [--apps 200] [--requests 200000]

Times ``TrafficRecorder.record`` (what ``GatewayMetrics.observe`` adds to every request) over a mix of
apps, statuses and latencies, and ``GatewayMetrics.observe`` as a whole for comparison. Prints CPU
nanoseconds per call (process time, best of 5 rounds: immune to other load on the machine).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from gateway.metrics import GatewayMetrics
from gateway.traffic import TrafficRecorder

STATUSES = [200] * 90 + [304, 400, 401, 403, 404, 429, 429, 500, 502, 503]


def build_calls(apps: int, count: int, rng: random.Random) -> list[tuple[str, int, float]]:
    return [(f"app-{rng.randrange(apps)}", rng.choice(STATUSES), rng.lognormvariate(-4.5, 1.2)) for _ in range(count)]


def time_per_call(record: Callable[[str, int, float], None], calls: list[tuple[str, int, float]]) -> float:
    """CPU nanoseconds per call, best of 5 rounds (the loop's own cost subtracted)."""

    def noop(app: str, status: int, seconds: float) -> None:
        pass

    def run(target: Callable[[str, int, float], None]) -> float:
        best = float("inf")
        for _ in range(5):
            started = time.process_time_ns()
            for app, status, seconds in calls:
                target(app, status, seconds)
            best = min(best, time.process_time_ns() - started)
        return best

    return (run(record) - run(noop)) / len(calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200_000)
    args = parser.parse_args()
    calls = build_calls(args.apps, args.requests, random.Random(5))
    recorder = TrafficRecorder()
    print(
        f"TrafficRecorder.record: {time_per_call(recorder.record, calls):.0f} ns per request "
        f"({args.apps} apps, {args.requests} requests)"
    )
    metrics = GatewayMetrics()
    print(f"GatewayMetrics.observe (Prometheus + traffic): {time_per_call(metrics.observe, calls):.0f} ns per request")


if __name__ == "__main__":
    main()
