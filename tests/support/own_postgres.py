"""A PostgreSQL cluster of the test's own (initdb into a temp dir, a free port) that the test may stop and start.

Fault tests stop this one, never the shared server. Runs as the ``postgres`` user when the tests run as root
(initdb refuses root). A machine without PostgreSQL's server binaries skips, and fails under ``CI=true``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.ci import skip_or_fail
from tests.support.hub import free_port


class OwnPostgres:
    def __init__(self, bin_dir: Path, data_dir: Path, port: int, owner: str | None) -> None:
        self.bin_dir, self.data_dir, self.port, self.owner = bin_dir, data_dir, port, owner

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self.owner:
            command = ["runuser", "-u", self.owner, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{tool} failed: {done.stdout}{done.stderr}"

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data_dir / "db"), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir / "db"),
            "-o",
            options,
            "-l",
            str(self.data_dir / "pg.log"),
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir / "db"), "-m", "fast", "-w", "-t", "30", "stop")

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)


def _unavailable(reason: str) -> None:
    skip_or_fail(reason)


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        _unavailable("PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb) are not installed")
    owner = None
    if os.geteuid() == 0:  # initdb refuses root
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no postgres user to run initdb as")
        owner = "postgres"
    data_dir = Path(tempfile.mkdtemp(prefix="gerbang-pg-"))
    if owner:
        shutil.chown(data_dir, owner, owner)
    server = OwnPostgres(Path(found[-1]).parent, data_dir, free_port(), owner)
    try:
        server.init()
        server.start()
        yield server
    finally:
        subprocess.run(
            ["runuser", "-u", owner, "--"] * bool(owner)
            + [str(server.bin_dir / "pg_ctl"), "-D", str(data_dir / "db"), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(data_dir, ignore_errors=True)
