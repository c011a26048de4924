"""Global means global: four processes sharing one Redis admit what one limit allows, not four times it."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.support.limit_hammer import SPEC

PROCESSES = 4
SECONDS = 1.0


def test_four_processes_hammering_one_key_share_one_limit(redis_url: str, redis_prefix: str) -> None:
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.limit_hammer", redis_url, redis_prefix, str(SECONDS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
    start_at = time.time() + 0.2
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(f"{start_at}\n")
        worker.stdin.flush()
    outputs = [worker.communicate(timeout=30)[0] for worker in workers]
    admitted = [int(output) for output in outputs]
    # GCRA's stated bound: burst + rate × t (the Redis clock decides, so process clocks do not matter).
    bound = SPEC.burst + SPEC.rate * SECONDS / SPEC.period
    assert all(count > 0 for count in admitted)  # every process was served...
    assert sum(admitted) <= bound + 2  # ...and together they got one limit's worth, not four
    assert sum(admitted) >= bound / 2  # (less when a busy machine starts a process late)
