"""Servers started by the benchmark: pinned to cores, logged to files, waited for, measured, stopped.

Every server runs in its own session (process group), so stopping it stops exactly the processes
the benchmark started and nothing else.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from loadtests.harness.errors import Unavailable

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass(slots=True)
class Service:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    started: float  # time.monotonic() just before the process was started

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text[-lines:])


def start_service(
    name: str,
    argv: list[str],
    *,
    pin: list[str],
    log_dir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    drop_prefix: str | None = None,
) -> Service:
    """Start ``argv`` pinned; ``drop_prefix`` keeps matching variables of the caller's environment out."""
    log_path = log_dir / f"{name}.log"
    command = [*pin, *argv]
    started = time.monotonic()
    with log_path.open("ab") as log:
        try:
            popen = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=build_environment(env or {}, drop_prefix),
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise Unavailable(f"{name}: cannot start {argv[0]}: {exc}") from exc
    raise_priority(popen.pid, pin)
    return Service(name=name, popen=popen, log_path=log_path, started=started)


def build_environment(settings: dict[str, str], drop_prefix: str | None = None) -> dict[str, str]:
    inherited = {
        key: value for key, value in os.environ.items() if drop_prefix is None or not key.startswith(drop_prefix)
    }
    return {**inherited, **settings}


def raise_priority(pid: int, pin: list[str]) -> None:
    """Give a new session the niceness its ``nice -n N`` prefix asks for, at the autogroup level too.

    With autogroup scheduling (kernel.sched_autogroup_enabled=1) each session is weighed as a whole
    against the others and a process's own niceness counts only inside its session: the session's
    weight is set in /proc/PID/autogroup (sched(7)). Best effort: without privilege nothing changes.
    """
    if pin[:2] != ["nice", "-n"]:
        return
    try:
        Path(f"/proc/{pid}/autogroup").write_text(pin[2])
    except OSError:
        pass


def wait_for_http(service: Service, url: str, timeout: float = 20.0) -> float:
    """Seconds from the process start to the first 200 from ``url`` (the cold start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.popen.poll() is not None:
            raise Unavailable(f"{service.name} exited with {service.popen.returncode}: {service.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return time.monotonic() - service.started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.01)
    raise Unavailable(f"{service.name} did not answer 200 on {url} within {timeout:.0f} s: {service.log_tail()}")


def stop_service(service: Service, grace: float = 8.0) -> None:
    if service.popen.poll() is not None:
        return
    try:
        os.killpg(service.pid, signal.SIGTERM)
        service.popen.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(service.pid, signal.SIGKILL)
        service.popen.wait(timeout=grace)
    except ProcessLookupError:
        pass


def load_tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    found = [pid]
    for current in found:
        for task in _tasks(current):
            try:
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
            except OSError:
                continue
            found.extend(int(child) for child in children if int(child) not in found)
    return found


def load_cpu_seconds(pid: int) -> float:
    """User + system CPU of the process and its descendants (live ones)."""
    total = 0
    for member in load_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (proc(5) fields 14, 15)
    return total / CLOCK_TICKS


def load_busy_cpu_seconds() -> float:
    """User + system CPU seconds of every process on the machine since boot (proc(5), /proc/stat).

    Interrupt and softirq time (loopback networking lands there) is left out: processes' own
    utime/stime never include it, so comparing the two stays like with like.
    """
    user, nice, system = (int(value) for value in Path("/proc/stat").read_text().split(maxsplit=4)[1:4])
    return (user + nice + system) / CLOCK_TICKS


def load_children_cpu_seconds() -> float:
    """CPU of this process's finished children (wrk runs as one)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_worker_rss_mib(service: Service) -> list[float]:
    """Resident memory per worker: uvicorn's spawned workers when it has them, else the process itself."""
    tree = load_tree(service.pid)
    workers = [pid for pid in tree[1:] if "spawn_main" in _cmdline(pid)]
    if not workers and service.name.startswith("nginx"):
        workers = tree[1:]  # nginx: the worker, not the idle master
    return [_rss_mib(pid) for pid in (workers or [service.pid])]


def _tasks(pid: int) -> list[str]:
    try:
        return os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _rss_mib(pid: int) -> float:
    try:
        resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return resident_pages * PAGE_KIB / 1024
