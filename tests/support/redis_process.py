"""A redis-server of the test's own on a free loopback port, to kill, freeze (SIGSTOP) and restart.

Never used on the shared Redis: fault tests stop only the process they started.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.ci import skip_or_fail
from tests.support.hub import ephemeral_port_range, free_port


def _free_port(with_bus: bool = False) -> int:
    """A free port below the kernel's ephemeral range (``tests.support.hub.free_port``); ``with_bus``: port + 10000
    (a cluster node's bus) is free too and also below that range."""
    if not with_bus:
        return free_port()
    low = min(ephemeral_port_range()[0], 65_536)
    for _ in range(200):
        port = random.randint(15_000, low - 10_001)
        with socket.socket() as probe, socket.socket() as bus:
            try:
                probe.bind(("127.0.0.1", port))
                bus.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port pair found")


class RedisProcess:
    def __init__(self, port: int, *options: str, config_file: Path | None = None) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.options = options  # extra redis-server arguments (cluster mode, --sentinel)
        self.config_file = config_file
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        config_file = [str(self.config_file)] if self.config_file else []
        self.process = subprocess.Popen(
            [
                "redis-server",
                *config_file,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def freeze(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.terminate()
            self.process.wait(timeout=5)


def _require_redis_server() -> None:
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")


@contextmanager
def own_redis() -> Iterator[RedisProcess]:
    _require_redis_server()
    server = RedisProcess(_free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def own_sentinel(master: RedisProcess, workdir: Path, name: str = "mymaster") -> Iterator[RedisProcess]:
    """A Sentinel watching ``master`` under ``name``; its URL is ``redis://`` to the sentinel itself."""
    config = workdir / "sentinel.conf"
    config.write_text(
        f"sentinel monitor {name} 127.0.0.1 {master.port} 1\n"
        f"sentinel down-after-milliseconds {name} 5000\ndir {workdir}\n"
    )
    sentinel = RedisProcess(_free_port(), "--sentinel", config_file=config)
    sentinel.start()
    try:
        yield sentinel
    finally:
        sentinel.stop()


@contextmanager
def own_cluster(workdir: Path, nodes: int = 3) -> Iterator[list[RedisProcess]]:
    """A Redis Cluster of ``nodes`` primaries (no replicas) on free ports."""
    _require_redis_server()
    started: list[RedisProcess] = []
    try:
        for _ in range(nodes):
            port = _free_port(with_bus=True)
            node = RedisProcess(
                port,
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(workdir / f"nodes-{port}.conf"),
                "--dir",
                str(workdir),
            )
            node.start()
            started.append(node)
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in started), "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )
        _wait_cluster_ok(started)
        yield started
    finally:
        for node in started:
            node.stop()


def _wait_cluster_ok(nodes: list[RedisProcess]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = [
            subprocess.run(
                ["redis-cli", "-p", str(n.port), "cluster", "info"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout
            for n in nodes
        ]
        if all("cluster_state:ok" in state for state in states):
            return
        time.sleep(0.05)
    raise RuntimeError("the test cluster did not reach cluster_state:ok")
