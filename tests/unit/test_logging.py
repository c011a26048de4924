"""Structured logs: JSON on stdout with request_id and trace_id on every line, stdlib loggers included."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from idp.logging import bind_request, configure_logging, reset_request


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    for handler in [h for h in root.handlers if h.get_name() == "gerbang"]:
        root.removeHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()


def _json_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_every_line_carries_timestamp_level_event_and_request_ids(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True, level="info")
    log = structlog.get_logger("gerbang.test")
    log.info("outside")
    binding = bind_request("req-1", "4bf92f3577b34da6a3ce929d0e0e4736")
    log.info("inside", app="simpus")
    logging.getLogger("uvicorn.error").warning("from the standard library %s", "too")
    reset_request(binding)
    log.info("after")
    outside, inside, foreign, after = _json_lines(capsys)
    for line in (outside, inside, foreign, after):
        assert {"timestamp", "level", "event", "request_id", "trace_id"} <= line.keys()
        assert line["timestamp"].endswith("Z")
    assert (outside["request_id"], outside["trace_id"]) == (None, None)
    assert (inside["event"], inside["level"], inside["app"], inside["request_id"], inside["trace_id"]) == (
        "inside",
        "info",
        "simpus",
        "req-1",
        "4bf92f3577b34da6a3ce929d0e0e4736",
    )
    assert (foreign["event"], foreign["level"], foreign["request_id"]) == (
        "from the standard library too",
        "warning",
        "req-1",
    )
    assert after["request_id"] is None


async def test_request_ids_follow_tasks_and_threads_and_stay_apart(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True, level="info")
    log = structlog.get_logger("gerbang.test")

    async def request(request_id: str) -> None:
        binding = bind_request(request_id, f"trace-{request_id}")
        try:
            await asyncio.sleep(0)
            await asyncio.to_thread(lambda: logging.getLogger("authlib").info("in a thread"))
            log.info("in the task")
        finally:
            reset_request(binding)

    await asyncio.gather(request("a"), request("b"))
    lines = _json_lines(capsys)
    assert len(lines) == 4
    assert all(line["trace_id"] == f"trace-{line['request_id']}" for line in lines)
    assert sorted(line["request_id"] for line in lines) == ["a", "a", "b", "b"]


def test_level_filters_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True, level="warning")
    log = structlog.get_logger("gerbang.test")
    log.info("quiet")
    log.warning("loud")
    assert [line["event"] for line in _json_lines(capsys)] == ["loud"]


def test_exceptions_are_structured_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True, level="info")
    try:
        raise KeyError("missing")
    except KeyError:
        structlog.get_logger("gerbang.test").exception("failed")
    (line,) = _json_lines(capsys)
    assert line["event"] == "failed" and line["level"] == "error"
    assert line["exception"][0]["exc_type"] == "KeyError"


def test_console_renderer_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=False, level="debug")
    binding = bind_request("req-9", None)
    try:
        raise ValueError("shown nicely")
    except ValueError:
        structlog.get_logger("gerbang.test").exception("readable")
    reset_request(binding)
    out = capsys.readouterr().out
    assert "readable" in out and "request_id=req-9" in out and "ValueError: shown nicely" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.splitlines()[0])


def test_configuring_twice_keeps_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True, level="info")
    configure_logging(json=True, level="info")
    structlog.get_logger("gerbang.test").info("once")
    assert len(_json_lines(capsys)) == 1


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging(json=True, level="loud")


def test_standard_library_extras_reach_the_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    """The policy decision log names the request and the rules through ``extra``."""
    configure_logging(json=True, level="info")
    logging.getLogger("gerbang.policy").info("policy decision", extra={"request_id": "r-9", "rule_ids": ["x"]})
    [line] = _json_lines(capsys)
    assert (line["event"], line["request_id"], line["rule_ids"]) == ("policy decision", "r-9", ["x"])
