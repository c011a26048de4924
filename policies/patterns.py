"""The value syntaxes of the policy format, each parsed once: paths, time windows, CIDRs, OPD refs, periods.

Every ``parse_*`` raises ``ValueError`` with a message fit for a person; the schema calls them to
validate and the compiler calls them again to build matchers, so the two can never disagree.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$|^24:00$")
_OPD_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_OPD_PATH = re.compile(r"^/([a-z0-9][a-z0-9-]{0,62}/)+$")
_PERIOD = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?$")
_PERIOD_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_GLOB_CHARS = frozenset("*?[")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

PathMatcher = Callable[[str], bool]
MinuteRanges = tuple[tuple[tuple[int, int], ...], ...]  # per weekday (Monday = 0): [start, end) minutes


def is_glob(pattern: str) -> bool:
    return any(char in _GLOB_CHARS for char in pattern)


def parse_path(pattern: str) -> PathMatcher:
    """A prefix ("/api" covers "/api" and "/api/..." but not "/apix") or a glob matching the whole path.

    In a glob ``*`` and ``?`` stay inside one segment, ``**`` crosses segments, ``[abc]``/``[!abc]``
    are character classes.
    """
    if not pattern.startswith("/"):
        raise ValueError(f"path '{pattern}' must start with '/'")
    check_path_normal_form(pattern)
    if is_glob(pattern):
        try:
            regex = re.compile(glob_to_regex(pattern))
        except re.error as exc:  # e.g. a reversed range [z-a]
            raise ValueError(f"glob '{pattern}' is not valid: {exc.msg}") from None
        return lambda path: regex.fullmatch(path) is not None
    if pattern.endswith("/"):
        return lambda path: path.startswith(pattern)
    slash = pattern + "/"
    return lambda path: path == pattern or path.startswith(slash)


def check_path_normal_form(pattern: str) -> None:
    """A rule is matched against the gateway's normal form of a path (``gateway.paths``): a pattern written
    any other way could never match, and a deny rule that never matches fails open."""
    segments = pattern.split("/")[1:-1]  # the last may be empty (a trailing slash)
    if any(segment in ("", ".", "..") for segment in segments) or pattern.endswith(("/.", "/..")):
        raise ValueError(f"path '{pattern}' has an empty, '.' or '..' segment: requests never do")
    for encoded in _PERCENT.findall(pattern):
        value = int(encoded[1:], 16)
        if chr(value) in _UNRESERVED or encoded != encoded.upper():
            raise ValueError(
                f"path '{pattern}': write {encoded} as "
                f"{chr(value) if chr(value) in _UNRESERVED else encoded.upper()} (requests are "
                "normalised so)"
            )


def glob_to_regex(pattern: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            close = pattern.find("]", index + 2 if pattern.startswith("[!", index) else index + 1)
            if close < 0:
                raise ValueError(f"glob '{pattern}' has an unterminated '[' at position {index + 1}")
            body = pattern[index + 1 : close]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            if not body or "/" in body:
                raise ValueError(f"glob '{pattern}' has an empty character class or one containing '/'")
            body = "".join(c if c.isalnum() or c == "-" else "\\" + c for c in body)  # ranges stay ranges
            out.append(f"[^/{body}]" if negate else f"[{body}]")  # a class never matches the separator
            index = close + 1
            continue
        elif char == "]":
            raise ValueError(f"glob '{pattern}' has a ']' without '['")
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def parse_hhmm(value: str) -> int:
    """ "08:30" → 510 minutes; "24:00" is allowed as an end."""
    if not isinstance(value, str) or not _HHMM.match(value):
        raise ValueError(f"time '{value}' must be HH:MM between 00:00 and 24:00")
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def parse_window(days: tuple[str, ...], start: str, end: str) -> MinuteRanges:
    """A window on the given start days; start > end spans midnight into the next day."""
    first, last = parse_hhmm(start), parse_hhmm(end)
    if first == 1440:
        raise ValueError("a window cannot start at 24:00")
    if first == last:
        raise ValueError(f"window {start}-{end} is empty (omit 'time' for the whole day)")
    ranges: list[list[tuple[int, int]]] = [[] for _ in DAYS]
    for day in days:
        weekday = DAYS.index(day)
        if first < last:
            ranges[weekday].append((first, last))
        else:
            ranges[weekday].append((first, 1440))
            if last:
                ranges[(weekday + 1) % 7].append((0, last))
    return tuple(tuple(day) for day in ranges)


def parse_cidr(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"'{value}' is not a CIDR network ({exc})") from None


def parse_opd(value: str) -> str:
    """An OPD slug ("dinkes") or materialised path ("/kota-palembang/dinkes/") → the segment to look for.

    A subject is in the OPD's subtree when one of its OPD paths contains "/dinkes/" (slugs are unique
    city-wide), or, for a path, starts with it.
    """
    if _OPD_SLUG.match(value):
        return f"/{value}/"
    if _OPD_PATH.match(value):
        return value
    raise ValueError(f"OPD '{value}' must be a slug (e.g. dinkes) or a path (e.g. /kota-palembang/dinkes/)")


def parse_period(value: float | int | str) -> float:
    """Seconds as a number, or "500ms", "10s", "1m", "1h", "1d"."""
    if isinstance(value, bool):
        raise ValueError("period must be a number of seconds or like 10s, 1m, 1h, 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _PERIOD.match(str(value).strip())
        if not match:
            raise ValueError(f"period '{value}' must be a number of seconds or like 10s, 1m, 1h, 1d")
        seconds = float(match.group(1)) * _PERIOD_UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError("period must be positive")
    return seconds
