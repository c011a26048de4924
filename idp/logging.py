"""Structured logs: one JSON object per line on stdout, with request_id and trace_id on every line.

``configure_logging`` runs once at start. ``bind_request`` at the start of a request puts the ids
in context variables, so every line logged by that task, whatever it awaits, and the threadpool
work it starts (anyio copies the context) carries them; ``reset_request`` at its end. Outside a
request both keys are present and null, so every line has the same shape.

structlog's loggers and the standard library's (uvicorn, aiohttp, SQLAlchemy) go through the same
processors and the same handler; run uvicorn with ``log_config=None`` so its loggers propagate here.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

REQUEST_KEYS = ("request_id", "trace_id")

RequestBinding = Mapping[str, contextvars.Token[Any]]


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is when a line is logged (test runners swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _add_request_ids(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in REQUEST_KEYS:
        event_dict.setdefault(key, None)
    return event_dict


def configure_logging(json: bool | None = None, level: str = "info") -> None:
    """Route every log line to stdout: JSON, or a console renderer when ``json`` is None and stdout
    is a terminal. Calling it again replaces the previous configuration."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r} (debug, info, warning, error, critical)")
    as_json = not sys.stdout.isatty() if json is None else json
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _add_request_ids,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    # Pretty exceptions are the console renderer's job; format_exc_info before it makes structlog warn.
    rendering: list[Any] = (
        [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
        if as_json
        else [structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())]
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = _StdoutHandler()
    handler.set_name("gerbang")
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            # Standard-library lines keep their ``extra={...}`` fields (the decision log's request and rule ids).
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
        )
    )
    root = logging.getLogger()
    for existing in [h for h in root.handlers if h.get_name() == "gerbang"]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(numeric)
    # uvicorn's own logging config gives its loggers private handlers: send them through ours instead.
    # Its access log keeps the propagation uvicorn chose (``gerbang serve`` turns it off: /metrics counts
    # traffic, and a line per request costs the hot path ~10 % of its CPU).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        if name != "uvicorn.access":
            server_logger.propagate = True


def bind_request(request_id: str, trace_id: str | None = None) -> RequestBinding:
    """Tag every following line in this context with the request's ids; hand the result to reset_request."""
    return structlog.contextvars.bind_contextvars(request_id=request_id, trace_id=trace_id)


def reset_request(binding: RequestBinding) -> None:
    structlog.contextvars.reset_contextvars(**binding)
