"""A worker's memory does not keep argon2id's 19 MiB blocks after password checks (``gerbang serve`` fixes glibc's
mmap threshold for its workers: ``gateway.cli.serve.fix_mmap_threshold``)."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import concurrent.futures, re
from gateway.cli.serve import fix_mmap_threshold, limit_malloc_arenas
if {fixed}:
    fix_mmap_threshold()
limit_malloc_arenas()
from idp.passwords import HASHER, hash_sync
stored = hash_sync("kata-sandi-warga")
def rss():
    return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read())[1]) // 1024
before = rss()
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    for _ in range(10):
        list(pool.map(lambda _: HASHER.verify(stored, "kata-sandi-warga"), range(4)))
print(rss() - before)
"""


def _growth_mib(fixed: bool) -> int:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(fixed=fixed)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return int(done.stdout.strip())


def test_password_checks_leave_no_retained_blocks_with_the_fixed_threshold() -> None:
    assert _growth_mib(fixed=True) < 10
    assert _growth_mib(fixed=False) > 30  # the default glibc behaviour the fix is for (the probe can fail)
