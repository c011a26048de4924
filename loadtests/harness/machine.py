"""Facts about the machine a run is measured on, and which cores the target and the load generator get."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Cores:
    """``taskset -c`` lists: the measured server alone on ``target``; wrk and the upstream share ``load``.

    ``niceness`` < 0 raises the benchmark's processes above everything else on a shared machine
    (CFS gives nice -10 about 10x the share of nice 0), so a test suite running beside the benchmark
    disturbs it less. It needs root; without it ``nice`` warns and runs the command unchanged.
    """

    target: str
    load: str
    every: str
    pinned: bool
    niceness: int = 0

    @property
    def on_target(self) -> list[str]:
        return self._prefix(self.target)

    @property
    def on_load(self) -> list[str]:
        return self._prefix(self.load)

    @property
    def on_every(self) -> list[str]:
        return self._prefix(self.every)

    def _prefix(self, cpu_list: str) -> list[str]:
        nice = ["nice", "-n", str(self.niceness)] if self.niceness else []
        return [*nice, "taskset", "-c", cpu_list]


@dataclass(frozen=True, slots=True)
class MachineFacts:
    date: str
    started_at: str
    host: str
    cores: int
    cpu_model: str
    kernel: str
    python: str
    tools: dict[str, str]


def build_cores(niceness: int = 0) -> Cores:
    available = sorted(os.sched_getaffinity(0))
    every = ",".join(str(core) for core in available)
    niceness = niceness if os.geteuid() == 0 else 0
    if len(available) < 2:
        # One core: nothing to pin apart; the numbers then include the load generator's cost.
        return Cores(target=every, load=every, every=every, pinned=False, niceness=niceness)
    return Cores(target=str(available[0]), load=str(available[1]), every=every, pinned=True, niceness=niceness)


def load_machine_facts(tool_versions: dict[str, str]) -> MachineFacts:
    now = datetime.now(UTC)
    return MachineFacts(
        date=now.strftime("%Y-%m-%d"),
        started_at=now.strftime("%Y-%m-%d %H:%M UTC"),
        host=socket.gethostname().split(".")[0] or "host",
        cores=os.cpu_count() or 1,
        cpu_model=_cpu_model(),
        kernel=platform.release(),
        python=platform.python_version(),
        tools=tool_versions,
    )


def load_tool_version(argv: list[str]) -> str:
    """The first line a tool prints about its version ("missing" when it is not installed)."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "missing"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
