#!/usr/bin/env bash
# Flame graph of a Gerbang worker under wrk load, written to loadtests/results/profile-<time>-<target>.svg.
#
#   loadtests/profile.sh [gerbang-bearer|gerbang-none|gerbang-full|token-gerbang|...] [--seconds 20]
#
# Uses the Python of the active venv (or $PYTHON) — the one Gerbang is installed in — and installs
# py-spy into it when missing (a profiling tool, not a project dependency). py-spy reads another
# process's memory: run as root or with ptrace allowed (kernel.yama.ptrace_scope=0).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$(command -v python || command -v python3)}"
bindir="$(dirname "$python")"
if [[ ! -x "$bindir/py-spy" ]] && ! command -v py-spy >/dev/null; then
    echo "installing py-spy into $("$python" -c 'import sys; print(sys.prefix)')" >&2
    "$python" -m pip install -q py-spy
fi
cd "$here/.."
exec "$python" -m loadtests.profile "$@"
