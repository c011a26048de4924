"""The limit planner's memory of recent plans stays small whatever the number of distinct subjects."""

from __future__ import annotations

import gc
import tracemalloc

from idp.throttle.store import PLANS_KEPT, Hit, Planner
from policies.limits import LimitSpec

ACCOUNT = LimitSpec(id="login-account", per="account", route_class="login", rate=10, period=900.0)
ADDRESS = LimitSpec(id="login-ip", per="ip", route_class="login", rate=30, period=60.0)


def test_a_subject_seen_again_reuses_its_plan() -> None:
    planner = Planner("t")
    assert planner.plan(Hit(ACCOUNT, "u-1")) is planner.plan(Hit(ACCOUNT, "u-1"))
    assert planner.plan(Hit(ADDRESS, "u-1")).key != planner.plan(Hit(ACCOUNT, "u-1")).key


def test_subjects_seen_once_keep_at_most_a_few_mib() -> None:
    """A city's sign-ins: each citizen's account and address once (the old bound, 65,536 plans, kept 35 MiB)."""
    planner = Planner("gerbang")
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(50_000):
            planner.plan(Hit(ACCOUNT, f"1671{n:012d}"))
            planner.plan(Hit(ADDRESS, f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"))
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 4 * 2**20
    assert len(planner) <= PLANS_KEPT
