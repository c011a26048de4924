"""PHP for the tests of the PHP recipe (contrib/php): the interpreter with apcu, and ``php -S`` serving a script.

CI installs ``php-cli php-apcu php-redis`` (``.ci/run``); elsewhere a machine without them skips these tests.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.ci import skip_or_fail
from tests.support.eventually import eventually
from tests.support.hub import free_port

RECIPE = Path(__file__).resolve().parents[2] / "contrib" / "php"
APCU = ("-d", "apc.enable_cli=1")  # apcu is off in the CLI (and its server) unless asked


def php_binary(*extensions: str) -> str:
    """The ``php`` with apcu enabled (and ``extensions`` loaded), or skip (fail under CI=true)."""
    php = shutil.which("php")
    if php is None:
        skip_or_fail("php is not installed (apt-get install php-cli php-apcu php-redis)")
    probe = subprocess.run([php, *APCU, "-r", "echo (int) apcu_enabled();"], capture_output=True, text=True)
    if probe.stdout != "1":
        skip_or_fail("php's apcu extension is not installed (apt-get install php-apcu)")
    for name in extensions:
        loaded = subprocess.run([php, "-r", f"echo (int) extension_loaded('{name}');"], capture_output=True, text=True)
        if loaded.stdout != "1":
            skip_or_fail(f"php's {name} extension is not installed (apt-get install php-{name})")
    return php


@contextmanager
def run_php(script: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """``php -S`` on a free loopback port with ``script`` as the router for every request; its base URL. The
    server's own lines (each request, PHP's warnings) go to ``log``."""
    php, port = php_binary(), free_port()
    with log.open("ab") as output:
        process = subprocess.Popen(
            [php, *APCU, "-S", f"127.0.0.1:{port}", str(script)],
            cwd=script.parent,
            env={"PATH": "/usr/bin:/bin", **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        eventually(lambda: process.poll() is not None or _listening(port))
        assert process.poll() is None, f"php -S exited with {process.returncode}"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True
