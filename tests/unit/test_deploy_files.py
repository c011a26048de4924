"""The deployment files say what the code does: the example configuration lists every setting (commented, and
valid TOML once uncommented), the systemd unit runs the hub with workers, the image has a health check."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from gateway.config_check import find_unknown_settings
from gateway.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_example_configuration_lists_every_setting_commented() -> None:
    text = (DEPLOY / "gerbang.example.toml").read_text(encoding="utf-8")
    active = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert active == [], "every setting is commented out"
    uncommented = "\n".join(line[2:] for line in text.splitlines() if re.match(r"# [a-z_]+ = ", line))
    keys = set(tomllib.loads(uncommented))
    assert keys == set(Settings.model_fields), sorted(keys ^ set(Settings.model_fields))
    example = DEPLOY / "gerbang.example.toml"
    assert find_unknown_settings(Settings, {}, example) == []


def test_the_systemd_unit_runs_the_hub_with_workers_and_stops_gracefully() -> None:
    unit = (DEPLOY / "systemd" / "gerbang.service").read_text(encoding="utf-8")
    assert "gerbang serve" in unit and "--workers" in unit and "KillSignal=SIGTERM" in unit
    assert "GERBANG_CONFIG=/etc/gerbang/gerbang.toml" in unit
    timer = (DEPLOY / "systemd" / "gerbang-backup.timer").read_text(encoding="utf-8")
    assert "OnCalendar=" in timer and "gerbang backup" in (DEPLOY / "systemd" / "gerbang-backup.service").read_text()


def test_the_container_image_has_a_health_check_on_readyz() -> None:
    containerfile = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    assert "HEALTHCHECK" in containerfile and "/readyz" in containerfile
    assert "postgresql-client" in containerfile and 'gerbang", "serve"' in containerfile
