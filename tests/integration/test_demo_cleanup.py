"""``gerbang demo`` without ``--data-dir``: the banner names the console and the mail outbox, and the temporary
directory it made is gone once it stops (Ctrl+C)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.hub import free_port


def test_the_demo_lists_console_and_outbox_and_removes_its_temporary_directory(tmp_path: Path) -> None:
    port = free_port()
    for offset in range(1, 5):  # the demo uses the next four ports too; a busy one fails the run loudly
        assert port + offset < 65536
    env = {k: v for k, v in os.environ.items() if not k.startswith("GERBANG_") or k.startswith("GERBANG_TEST_")}
    demo = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "demo", "--port", str(port)],
        cwd=tmp_path,
        env={**env, "TMPDIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    banner: list[str] = []
    try:
        assert demo.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            banner.append(line)
            if "Press Ctrl+C" in line:
                break
        text = "".join(banner)
        assert f"http://127.0.0.1:{port}/admin/" in text and "mail outbox" in text, text
        made = [path for path in tmp_path.iterdir() if path.name.startswith("gerbang-demo-")]
        assert len(made) == 1 and str(made[0]) in text
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=60)
    assert not [path for path in tmp_path.iterdir() if path.name.startswith("gerbang-demo-")]
