"""Mistakes in the configuration caught before the hub starts: unknown keys in the TOML file and unknown
``GERBANG_*`` environment variables (a mistyped ``GERBANG_REDIS_URL`` would otherwise be ignored silently and
every limit would be per process).

``GERBANG_CONFIG`` names the file itself; ``GERBANG_TEST_*`` belong to the test suite and ``GERBANG_LT_*``,
``GERBANG_BENCH_*``, ``GERBANG_LOCUST_*`` to the load tests (``loadtests/``), which may start a hub.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from pydantic_settings import BaseSettings

PREFIX = "GERBANG_"
NOT_SETTINGS = frozenset({"GERBANG_CONFIG"})
NOT_SETTINGS_PREFIXES = ("GERBANG_TEST_", "GERBANG_LT_", "GERBANG_BENCH_", "GERBANG_LOCUST_")


def find_unknown_settings(settings_cls: type[BaseSettings], environ: Mapping[str, str], config_file: Path) -> list[str]:
    """One message per unknown name, with the closest known setting when there is one."""
    known = set(settings_cls.model_fields)
    problems = []
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name in NOT_SETTINGS or name.startswith(NOT_SETTINGS_PREFIXES):
            continue
        field = name[len(PREFIX) :].lower()
        if field not in known:
            problems.append(f"environment variable {name} is not a Gerbang setting{_hint(field, known, True)}")
    for key in _file_keys(config_file):
        if key not in known:
            problems.append(f"{config_file}: key '{key}' is not a Gerbang setting{_hint(key, known, False)}")
    return problems


def _file_keys(path: Path) -> list[str]:
    if not path.is_file():
        return []
    try:
        return sorted(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []  # the settings source reports a file it cannot read


def _hint(name: str, known: set[str], as_env: bool) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    if not close:
        return ""
    return f" (did you mean {PREFIX + close[0].upper() if as_env else close[0]}?)"


def check_configuration(settings_cls: type[BaseSettings]) -> list[str]:
    from idp.settings import config_path

    return find_unknown_settings(settings_cls, os.environ, config_path())
