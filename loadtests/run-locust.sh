#!/usr/bin/env bash
# Run one locust scenario headless against a Gerbang deployment and write CSV + HTML reports.
#
#   loadtests/run-locust.sh <citizen|opd_integration|admin> <base-url>
#
# Knobs (environment): USERS (default 10), SPAWN_RATE (default 2/s), RUN_TIME (default 1m, at most 2h),
# REPORT_DIR (default loadtests/locust-reports), GERBANG_LOCUST_VENV (default loadtests/.locust-venv),
# and the scenario's GERBANG_LT_* settings (see loadtests/README.md).
# locust pulls in gevent and Flask, so it lives in its own venv, created here on first use.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
scenario="${1:-}"
base_url="${2:-}"
if [[ -z "$scenario" || -z "$base_url" || ! -f "$here/locustfiles/$scenario.py" || "$scenario" == provider ]]; then
    echo "usage: $0 <citizen|opd_integration|admin> <base-url>" >&2
    exit 2
fi

venv="${GERBANG_LOCUST_VENV:-$here/.locust-venv}"
if [[ ! -x "$venv/bin/locust" ]]; then
    echo "creating $venv with locust (once)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "locust>=2.30"
fi

run_time="${RUN_TIME:-1m}"
if [[ ! "$run_time" =~ ^([0-9]+[smh])+$ ]]; then
    echo "error: RUN_TIME must look like 30s, 5m or 1h30m" >&2
    exit 2
fi
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="${REPORT_DIR:-$here/locust-reports}/$scenario-$stamp"
mkdir -p "$out"

# --run-time bounds the run; timeout(1) bounds it again should locust hang while stopping.
timeout --signal=INT --kill-after=30s 7200 \
    "$venv/bin/locust" -f "$here/locustfiles/$scenario.py" --headless \
    --host "$base_url" --users "${USERS:-10}" --spawn-rate "${SPAWN_RATE:-2}" --run-time "$run_time" \
    --stop-timeout 10 --csv "$out/$scenario" --html "$out/$scenario.html" --only-summary \
    --exit-code-on-error 1 || status=$?
echo "reports: $out/$scenario.html and $out/${scenario}_stats.csv" >&2
exit "${status:-0}"
