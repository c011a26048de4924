"""The in-process store: all-or-nothing, peeks, expiry sweep."""

from __future__ import annotations

from idp.throttle import memory_store
from idp.throttle.memory_store import MemoryStore
from idp.throttle.store import Hit
from policies.limits import LimitSpec
from tests.support.clocks import MicroClock

PER_IP = LimitSpec(id="per-ip", per="ip", rate=10, period=1, burst=3)
DAILY = LimitSpec(id="daily", per="opd", window="day", quota=2)


async def test_a_denied_request_consumes_no_other_limit() -> None:
    store = MemoryStore("t", MicroClock())
    for _ in range(2):
        assert all(o.allowed for o in await store.check([Hit(PER_IP, "a"), Hit(DAILY, "dinkes")]))
    denied = await store.check([Hit(PER_IP, "a"), Hit(DAILY, "dinkes")])
    assert [o.allowed for o in denied] == [True, False]
    assert denied[0].remaining == 0  # would have been the last token; it was not taken
    assert (await store.check([Hit(PER_IP, "a")]))[0].allowed


async def test_a_peek_never_consumes() -> None:
    store = MemoryStore("t", MicroClock())
    for _ in range(10):
        assert (await store.check([Hit(PER_IP, "a", consume=False)]))[0].remaining == 2
    assert len(store) == 0


async def test_expired_entries_are_swept() -> None:
    clock = MicroClock()
    store = MemoryStore("t", clock)
    for index in range(100):
        await store.check([Hit(PER_IP, f"10.0.0.{index}")])
    assert len(store) == 100
    clock.advance(1)
    for _ in range(memory_store.SWEEP_EVERY):
        await store.check([Hit(PER_IP, "survivor", consume=False)])
    assert len(store) == 0


async def test_live_keys_are_bounded_and_the_least_recently_written_go_first() -> None:
    login = LimitSpec(id="login", per="account", route_class="login", rate=5, period=900, burst=2)
    store = MemoryStore("t", MicroClock(), max_entries=100)
    for _ in range(2):
        assert (await store.check([Hit(login, "target")]))[0].allowed
    assert not (await store.check([Hit(login, "target")]))[0].allowed  # the account being guessed is throttled
    for index in range(1000):  # a flood of distinct subjects, all still live (900 s period)
        await store.check([Hit(login, f"random-{index}")])
        assert len(store) <= 100
    assert (await store.check([Hit(login, "random-999")]))[0].allowed  # recent keys are kept (1 token left)
    assert not (await store.check([Hit(login, "random-999")]))[0].allowed
