"""The provider's non-OAuth errors (OAuth errors are authlib's, one class per RFC 6749 code).

GerbangError            public message safe to show; ``detail`` goes to the log only
├── InvalidInput        bad input from an operator or a citizen (400 / CLI exit 1)
├── Conflict            would duplicate a unique record (409)
├── NotFound            named record does not exist (404)
└── Unavailable         storage or another dependency is down (503)
"""

from __future__ import annotations


class GerbangError(Exception):
    status = 400

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidInput(GerbangError):
    status = 400


class Conflict(GerbangError):
    status = 409


class NotFound(GerbangError):
    status = 404


class Unavailable(GerbangError):
    status = 503
