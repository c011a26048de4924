"""Graceful shutdown: SIGTERM stops accepting, lets requests in flight finish (streams up to a deadline) and
exits 0; a rolling restart behind a TCP load balancer under continuous load loses no request."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest

from tests.integration.scale.conftest import Town
from tests.support.balancer import Balancer, run_balancer
from tests.support.eventually import eventually
from tests.support.instances import running, spawn_instance, start_instance, wait_ready
from tests.support.localhost_names import app_url

pytestmark = pytest.mark.slow


def is_refusing(url: str) -> bool:
    """True when a new connection gets no answer. A probe that reached the listen backlog just before the
    server closed its socket is closed without a response (or reset): that is refusing too, as it would be
    for any server; a load balancer retries it elsewhere. Any answer at all means still accepting."""
    try:
        httpx.get(f"{url}/healthz", timeout=1)
    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
        return True
    return False


def test_sigterm_finishes_a_slow_response_and_a_stream_then_exits_0(town: Town) -> None:
    instance = start_instance(town.city, GERBANG_SHUTDOWN_GRACE_SECONDS="10")
    headers = {"Authorization": f"Bearer {town.service_token(instance.url)}"}
    before = town.upstream.hits
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(httpx.get, f"{instance.app_url('parkir')}/slow?delay=1.5", headers=headers, timeout=20)
        stream = pool.submit(
            httpx.get, f"{instance.app_url('parkir')}/stream?chunks=20&size=1000&delay=0.1", headers=headers, timeout=20
        )
        eventually(lambda: town.upstream.hits >= before + 2, timeout=5, interval=0.02)
        instance.stop()
        eventually(lambda: is_refusing(instance.url), timeout=2, interval=0.05)  # new connections: refused
        assert slow.result().status_code == 200 and slow.result().json() == {"slow": True}
        assert stream.result().status_code == 200 and len(stream.result().content) == 20 * 1000
    assert instance.process.wait(timeout=15) == 0, instance.log()[-2000:]


def test_a_stream_longer_than_the_grace_period_is_cut_at_the_deadline(town: Town) -> None:
    instance = start_instance(town.city, GERBANG_SHUTDOWN_GRACE_SECONDS="1")
    headers = {"Authorization": f"Bearer {town.service_token(instance.url)}"}
    received = [0]

    def read_forever() -> None:
        try:
            with httpx.stream(
                "GET", f"{instance.app_url('parkir')}/stream?chunks=0&size=100&delay=0.05", headers=headers, timeout=20
            ) as response:
                for chunk in response.iter_bytes():
                    received[0] += len(chunk)
        except httpx.HTTPError:
            pass  # the cut: the stream ends without its terminating chunk

    reader = threading.Thread(target=read_forever)
    reader.start()
    eventually(lambda: received[0] > 0, timeout=5, interval=0.02)
    stopped = time.monotonic()
    instance.stop()
    assert instance.process.wait(timeout=15) == 0, instance.log()[-2000:]
    reader.join(timeout=5)
    assert not reader.is_alive()
    assert time.monotonic() - stopped < 1 + 5  # the grace, plus shutting the hub down


def test_rolling_restart_behind_a_load_balancer_loses_no_request(town: Town) -> None:
    lb_port = urlsplit(town.city.issuer).port
    assert lb_port is not None
    with running(town.city, [None, None], GERBANG_SHUTDOWN_GRACE_SECONDS="10") as instances:
        balancer = Balancer([("127.0.0.1", urlsplit(i.url).port or 0) for i in instances])
        with run_balancer(balancer, lb_port) as lb:
            headers = {"Authorization": f"Bearer {town.service_token(lb)}", "Connection": "close"}
            done = threading.Event()
            counts = {"ok": 0, "lost": 0}
            lost: list[str] = []

            def load(path: str) -> None:
                with httpx.Client(timeout=20, headers=headers) as http:
                    while not done.is_set():
                        try:
                            status = http.get(f"{app_url(lb, 'parkir')}/{path}").status_code
                        except httpx.HTTPError as exc:
                            status, detail = 0, repr(exc)
                        else:
                            detail = str(status)
                        key = "ok" if status == 200 else "lost"
                        counts[key] += 1
                        if key == "lost":
                            lost.append(detail)
                        time.sleep(0.002)  # steady load, not a CPU hog that starves the instance starting up

            with ThreadPoolExecutor(4) as pool:
                workers = [pool.submit(load, "echo") for _ in range(3)] + [pool.submit(load, "slow?delay=0.3")]
                try:
                    time.sleep(0.5)
                    for index, old in enumerate(list(instances)):  # one at a time, as an operator would
                        assert old.terminate() == 0, old.log()[-2000:]
                        # A starved machine (CI runs two suites' worth of processes on 2 cores) can take
                        # long to import and start: the operator waits for readiness, so does the test.
                        instances[index] = wait_ready(
                            spawn_instance(town.city, port=urlsplit(old.url).port, GERBANG_SHUTDOWN_GRACE_SECONDS="10"),
                            timeout=120,
                        )
                    time.sleep(0.5)
                finally:
                    done.set()  # a failed restart must end the load, not leave its threads spinning
                for worker in workers:
                    worker.result()
    print(
        f"rolling restart: {counts['ok']} requests answered, {counts['lost']} lost, {balancer.retries} balancer retries"
    )
    assert lost == [] and balancer.failed == 0
    assert counts["ok"] > 100
