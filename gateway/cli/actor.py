"""Who ran a command, as the audit log records it (imports nothing heavy: every command's ``--help`` stays fast)."""

from __future__ import annotations

import getpass
import os
import socket


def cli_actor() -> str:
    """``cli:<os user>@<host>``: who ran a command and where."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid (containers)
        user = f"uid-{os.getuid()}"
    return f"cli:{user}@{socket.gethostname()}"
