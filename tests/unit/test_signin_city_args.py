"""The city sign-in benchmark's command line, without starting anything."""

from __future__ import annotations

import pytest

from loadtests.signin.pinning import parse_cores, taskset_prefix
from loadtests.signin_city import build_parser, main


def test_bad_rates_and_sizes_are_refused_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--rates", "ten"]) == 2
    assert main(["--users", "0"]) == 2
    assert main(["--rates", "5,-1"]) == 2
    assert "--rates" in capsys.readouterr().err
    assert main(["--mixed", "5,5"]) == 2
    assert main(["--mixed", "5,x,1"]) == 2
    assert "--mixed" in capsys.readouterr().err


def test_defaults_are_the_city_and_small_mode_is_two_flags() -> None:
    defaults = build_parser().parse_args([])
    assert defaults.users == 1_780_000 and defaults.rates == "20,40"
    small = build_parser().parse_args(["--users", "20000", "--seconds", "20"])
    assert (small.users, small.seconds) == (20_000, 20.0)


def test_cores_not_on_this_machine_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--server-cores", "999"]) == 2
    assert main(["--other-cores", "a"]) == 2
    assert "--server-cores" in capsys.readouterr().err


def test_core_lists_are_read_as_taskset_reads_them() -> None:
    assert parse_cores("0") == {0}
    assert taskset_prefix({1, 0}) == ["taskset", "-c", "0,1"]
    assert taskset_prefix(None) == []
