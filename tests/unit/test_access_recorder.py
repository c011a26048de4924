"""The access recorder: one record per (user, app) per window and claims, a bounded queue, drops counted."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter

from gateway.access_recorder import AccessRecord, AccessRecorder
from gateway.model import Principal, Route
from idp.clock import FrozenClock

T0 = 1_790_000_000
CLAIMS = ("name", "opd", "roles", "acr")
WARGA = Principal(sub="warga-1", roles=("warga",), acr="1")
ASN = Principal(sub="asn-1", opd="dishub", roles=("operator",), acr="2")
PARKIR = Route(
    slug="parkir",
    opd="dishub",
    opd_path="/kota-palembang/dishub/",
    upstreams=("http://127.0.0.1:9",),
    auth_mode="session",
    resource="http://parkir.localhost:8000/",
)
PAJAK = Route(
    slug="pajak",
    opd="bapenda",
    opd_path="/kota-palembang/bapenda/",
    upstreams=("http://127.0.0.1:9",),
    auth_mode="bearer",
    resource="http://pajak.localhost:8000/",
)


def recorder(
    clock: FrozenClock, *, window: int = 300, max_pending: int = 100, counter: Counter | None = None
) -> AccessRecorder:
    return AccessRecorder(clock, window=window, max_pending=max_pending, dropped=counter)


def dropped_counter() -> tuple[CollectorRegistry, Counter]:
    registry = CollectorRegistry()
    return registry, Counter("gerbang_access_history_dropped", "drops", registry=registry)


def test_repeated_requests_within_the_window_are_one_record() -> None:
    clock = FrozenClock(T0)
    accesses = recorder(clock)
    for _ in range(5):
        accesses.record(WARGA, PARKIR, CLAIMS)
        clock.advance(60)
    assert accesses.take() == [AccessRecord("warga-1", "parkir", "dishub", T0, CLAIMS)]


def test_each_user_and_app_is_its_own_record() -> None:
    clock = FrozenClock(T0)
    accesses = recorder(clock)
    for principal, route in [(WARGA, PARKIR), (WARGA, PAJAK), (ASN, PARKIR), (WARGA, PARKIR)]:
        accesses.record(principal, route, CLAIMS)
    assert [(r.user_id, r.app, r.opd) for r in accesses.take()] == [
        ("warga-1", "parkir", "dishub"),
        ("warga-1", "pajak", "bapenda"),
        ("asn-1", "parkir", "dishub"),
    ]


def test_a_new_window_records_again_even_after_a_flush() -> None:
    clock = FrozenClock(T0)
    accesses = recorder(clock, window=300)
    accesses.record(WARGA, PARKIR, CLAIMS)
    assert len(accesses.take()) == 1
    clock.advance(299)
    accesses.record(WARGA, PARKIR, CLAIMS)
    assert accesses.take() == []  # still the same window: the flush did not forget it
    clock.advance(1)
    accesses.record(WARGA, PARKIR, CLAIMS)
    assert accesses.take() == [AccessRecord("warga-1", "parkir", "dishub", T0 + 300, CLAIMS)]


def test_callers_without_a_user_are_not_recorded() -> None:
    accesses = recorder(FrozenClock(T0))
    accesses.record(Principal(client_id="bapenda-integrasi"), PAJAK, CLAIMS)  # client_credentials
    accesses.record(Principal(), PARKIR, CLAIMS)  # anonymous
    assert accesses.pending == 0 and accesses.take() == []


def test_past_the_cap_records_are_dropped_and_counted() -> None:
    registry, counter = dropped_counter()
    accesses = recorder(FrozenClock(T0), max_pending=3, counter=counter)
    for n in range(5):
        accesses.record(Principal(sub=f"warga-{n}"), PARKIR, CLAIMS)
    assert accesses.pending == 3 and accesses.dropped_total == 2
    assert registry.get_sample_value("gerbang_access_history_dropped_total") == 2
    assert [r.user_id for r in accesses.take()] == ["warga-0", "warga-1", "warga-2"]
    accesses.record(Principal(sub="warga-4"), PARKIR, CLAIMS)  # a dropped access is not remembered as seen
    assert [r.user_id for r in accesses.take()] == ["warga-4"]


def test_a_batch_put_back_goes_first_and_what_does_not_fit_is_dropped() -> None:
    registry, counter = dropped_counter()
    clock = FrozenClock(T0)
    accesses = recorder(clock, max_pending=3, counter=counter)
    accesses.record(Principal(sub="a"), PARKIR, CLAIMS)
    accesses.record(Principal(sub="b"), PARKIR, CLAIMS)
    failed = accesses.take()  # the write failed
    accesses.record(Principal(sub="c"), PARKIR, CLAIMS)
    accesses.record(Principal(sub="d"), PARKIR, CLAIMS)
    accesses.restore(failed)
    assert [r.user_id for r in accesses.take()] == ["a", "c", "d"]
    assert registry.get_sample_value("gerbang_access_history_dropped_total") == 1


def test_the_dedupe_memory_is_bounded_and_forgets_the_oldest() -> None:
    clock = FrozenClock(T0)
    accesses = recorder(clock, max_pending=2)  # remembers at most 4 (user, app) keys
    for n in range(6):
        accesses.record(Principal(sub=f"warga-{n}"), PARKIR, CLAIMS)
        accesses.take()
    assert len(accesses._seen) == 4
    accesses.record(Principal(sub="warga-0"), PARKIR, CLAIMS)  # forgotten: recorded again (a harmless duplicate)
    accesses.record(Principal(sub="warga-5"), PARKIR, CLAIMS)  # still remembered
    assert [r.user_id for r in accesses.take()] == ["warga-0"]


def test_expired_keys_are_forgotten() -> None:
    clock = FrozenClock(T0)
    accesses = recorder(clock, window=10)
    accesses.record(WARGA, PARKIR, CLAIMS)
    accesses.record(ASN, PARKIR, CLAIMS)
    clock.advance(10)
    accesses.take()
    assert len(accesses._seen) == 0


@pytest.mark.parametrize("window,max_pending", [(0, 10), (10, 0)])
def test_a_window_or_cap_below_one_is_refused(window: int, max_pending: int) -> None:
    with pytest.raises(ValueError):
        AccessRecorder(FrozenClock(T0), window=window, max_pending=max_pending)


def test_other_claims_within_the_window_are_a_new_record_at_once() -> None:
    # The app was given the NIK (or policy released it) mid-window: the history must not under-state it.
    clock = FrozenClock(T0)
    accesses = recorder(clock)
    accesses.record(WARGA, PARKIR, CLAIMS)
    clock.advance(5)
    accesses.record(WARGA, PARKIR, (*CLAIMS, "nik"))
    clock.advance(5)
    accesses.record(WARGA, PARKIR, (*CLAIMS, "nik"))  # the same claims again: nothing new
    clock.advance(5)
    accesses.record(WARGA, PARKIR, CLAIMS)  # back to the old set: recorded again, with its time
    assert [(r.at, r.claims) for r in accesses.take()] == [
        (T0, CLAIMS),
        (T0 + 5, (*CLAIMS, "nik")),
        (T0 + 15, CLAIMS),
    ]
