"""Real ``gerbang serve`` processes on loopback ports sharing one database: the city's instances in a test.

``City`` is what every instance shares (database, secret, issuer, policy dir); ``Instance`` is one process.
The issuer is the address the citizens use (the load balancer's), the same for every instance.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.hub import free_port

SECRET = "rahasia-kota-palembang-" + "x" * 20
DEFAULT_POLICIES = Path(__file__).resolve().parents[2] / "policies" / "default"


@dataclass
class City:
    database_url: str
    issuer: str
    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def policy_dir(self) -> Path:
        return self.root / "policies"

    def environment(self, **overrides: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("GERBANG_")}
        env.update(
            {
                "GERBANG_CONFIG": str(self.root / "absent.toml"),
                "GERBANG_ISSUER": self.issuer,
                "GERBANG_DATABASE_URL": self.database_url,
                "GERBANG_SECRET_KEY": SECRET,
                "GERBANG_DATA_DIR": str(self.root / "data"),
                "GERBANG_POLICY_DIR": str(self.policy_dir),
                "GERBANG_REGISTRY_REFRESH_SECONDS": "0.5",
                "GERBANG_POLICY_RELOAD_SECONDS": "0.5",
                "GERBANG_KEY_REFRESH_SECONDS": "1",
                "GERBANG_JWKS_MIN_REFRESH_SECONDS": "1",
                "GERBANG_LOG_LEVEL": "warning",
                "GERBANG_LOG_JSON": "true",
                "GERBANG_UPSTREAM_ALLOW": "127.0.0.0/8,::1/128",  # the tests' upstreams run on loopback
                **self.env,
                **overrides,
            }
        )
        return env

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``gerbang ARGS`` against this city's settings; fails the test on a non-zero exit."""
        done = subprocess.run(
            [sys.executable, "-m", "gateway.cli", *args],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done


def new_city(database_url: str, root: Path, issuer: str | None = None) -> City:
    # Without the shipped rate limits: these tests send sustained load from one loopback address, which the
    # per-IP limits would rightly throttle (limits have their own tests).
    shutil.copytree(DEFAULT_POLICIES, root / "policies", ignore=shutil.ignore_patterns("tests", "20-limits.yaml"))
    return City(database_url, issuer or f"http://127.0.0.1:{free_port()}", root)


@dataclass
class Instance:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    stopping: bool = False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def app_url(self, slug: str) -> str:
        """The app's own origin on this instance's port (``{slug}.localhost``; the hub routes by Host)."""
        return f"http://{slug}.localhost:{self.url.rsplit(':', 1)[1]}"

    def stop(self) -> None:
        """Send SIGTERM once (a second one would ask uvicorn to cut the graceful shutdown short)."""
        if self.process.poll() is None and not self.stopping:
            self.process.send_signal(signal.SIGTERM)
            self.stopping = True

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and wait for the exit; the exit code."""
        self.stop()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError(f"{self.url} did not stop within {timeout} s:\n{self.log()[-3000:]}") from None


def spawn_instance(city: City, *args: str, port: int | None = None, **env: str) -> Instance:
    """``gerbang serve`` on a loopback port, started (not yet ready: see ``wait_ready``)."""
    port = port or free_port()
    log_path = city.root / f"serve-{port}-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port), *args],
            env=city.environment(**env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    return Instance(f"http://127.0.0.1:{port}", process, log_path)


def wait_ready(instance: Instance, timeout: float = 60) -> Instance:
    """Return once ``/readyz`` answers 200; fail the test with the instance's log otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        if instance.process.poll() is not None:
            raise AssertionError(f"gerbang serve exited with {instance.process.returncode}:\n{instance.log()[-3000:]}")
        try:
            if httpx.get(f"{instance.url}/readyz", timeout=2).status_code == 200:
                return instance
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            instance.process.kill()
            raise AssertionError(f"gerbang serve did not become ready:\n{instance.log()[-3000:]}")
        time.sleep(0.1)


def start_instance(city: City, *args: str, port: int | None = None, **env: str) -> Instance:
    return wait_ready(spawn_instance(city, *args, port=port, **env))


@contextmanager
def running(city: City, ports: list[int | None], *args: str, **env: str) -> Iterator[list[Instance]]:
    """Instances on ``ports`` (None: any free port), started together; SIGTERM'd together at the end."""
    instances = [spawn_instance(city, *args, port=port, **env) for port in ports]
    try:
        for instance in instances:
            wait_ready(instance)
        yield instances
    finally:
        for instance in instances:
            instance.stop()
        for instance in instances:
            instance.terminate()
