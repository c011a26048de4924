"""The node peers (the fastify gateway, oidc-provider): installed from npm into a temp dir, started pinned.

Their sources live in ``loadtests/peers/<name>/`` with exact versions in ``package.json``; the
benchmark copies them into its temp dir and runs ``npm install`` there, so the tree stays clean.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from loadtests.harness.errors import Unavailable
from loadtests.harness.process import Service, start_service

PEERS = Path(__file__).resolve().parent.parent / "peers"


def install_peer(name: str, work: Path) -> Path:
    """A directory holding the peer's sources and its node_modules."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise Unavailable("node and npm are not installed")
    target = work / name
    if (target / "node_modules").is_dir():
        return target
    shutil.copytree(PEERS / name, target, dirs_exist_ok=True)
    argv = ["npm", "install", "--no-audit", "--no-fund", "--omit=dev", "--loglevel=error"]
    try:
        done = subprocess.run(argv, cwd=target, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired as exc:
        raise Unavailable(f"npm install for {name} took longer than 300 s") from exc
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise Unavailable(f"npm install for {name} failed: {last[0]}")
    return target


def start_peer(name: str, directory: Path, env: dict[str, str], pin: list[str], log_dir: Path) -> Service:
    return start_service(name, ["node", "server.js"], pin=pin, log_dir=log_dir, env=env, cwd=directory)
