"""Request-target paths, normalised once (RFC 3986 §6.2.2) and refused when ambiguous.

The gateway authorizes and forwards the same string: ``normalise_path`` works on the raw
bytes the client sent (``scope["raw_path"]``), not on the server's decoded ``scope["path"]``,
so what the route table and the policies see is byte for byte what the upstream receives.

Normalisation: percent-encoded unreserved characters are decoded (§2.3), other
percent-encodings get upper-case hex (§6.2.2.1), ``.`` segments are removed and empty
segments (``//``) collapsed. Refused with 400, because servers behind us disagree on what
they mean: an encoded ``/``, ``\\`` or NUL, any ``..`` segment (raw or encoded, and the
``..;`` form some Java servers read as ``..``), a backslash, control characters, raw
non-ASCII bytes, broken percent-encoding, percent-encoded bytes that are not UTF-8 (overlong forms such
as ``%C0%AE`` are how some decoders were made to see ``.`` and ``/``), and targets that are not origin-form.

``check_app_path`` then refuses, for each app, what its server may read differently from the policies
(unless the app opts in with ``allow_ambiguous_paths``): a ``;`` in a segment (matrix or path
parameters: Tomcat and Spring drop ``;x`` from ``/admin;x``), double encoding (``%2561``: an app that
decodes twice sees ``a``), and a segment ending in a dot or a space (Windows and IIS drop them:
``/admin.`` and ``/admin%20`` are ``/admin``). Apps whose server compares paths case-insensitively
declare it (``case_insensitive_paths``) and the policies then match without regard to case.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote_to_bytes

from gateway.errors import BadRequest

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset(b"0123456789abcdefABCDEF")
# Bytes allowed raw in a path: RFC 3986 pchar + "/" (percent handled separately).
_RAW_ALLOWED = _UNRESERVED | frozenset(b"!$&'()*+,;=:@/%")
# Encoded bytes that change a path's meaning for some server behind us.
_AMBIGUOUS_ENCODED = frozenset(b"/\\") | frozenset(range(0x20)) | {0x7F}
_DOUBLE_ENCODED = re.compile(r"%25[0-9A-Fa-f]{2}")


def normalise_path(raw_path: bytes) -> str:
    """The one normalised form of ``raw_path``; raises ``BadRequest`` when it is ambiguous."""
    if not raw_path.startswith(b"/"):
        raise BadRequest("the request target must be a path", log_detail=f"target {raw_path[:200]!r}")
    return _normalise(raw_path)


@lru_cache(maxsize=4096)
def _normalise(raw_path: bytes) -> str:
    # Cached: the same few thousand paths repeat; the result is a pure function of the bytes.
    decoded = _decode_unreserved(raw_path)
    segments: list[str] = []
    for segment in decoded.split("/")[1:]:
        if segment in ("", "."):
            continue
        if segment.split(";", 1)[0] in ("..", "."):
            raise BadRequest("the path contains a dot segment", log_detail=f"path {raw_path[:200]!r}")
        segments.append(segment)
    path = "/" + "/".join(segments)
    if segments and decoded.endswith(("/", "/.")):
        path += "/"
    return path


def _decode_unreserved(raw: bytes) -> str:
    if any(byte not in _RAW_ALLOWED for byte in raw):
        raise BadRequest("the path contains a character that must be percent-encoded", log_detail=f"path {raw[:200]!r}")
    if b"%" not in raw:
        return raw.decode("ascii")
    out = bytearray()
    index, end = 0, len(raw)
    while index < end:
        byte = raw[index]
        if byte != 0x25:  # "%"
            out.append(byte)
            index += 1
            continue
        pair = raw[index + 1 : index + 3]
        if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
            raise BadRequest("the path has a broken percent-encoding", log_detail=f"path {raw[:200]!r}")
        value = int(pair, 16)
        if value in _AMBIGUOUS_ENCODED:
            raise BadRequest(
                "the path contains an encoded separator or control character", log_detail=f"path {raw[:200]!r}"
            )
        if value in _UNRESERVED:
            out.append(value)
        else:
            out += b"%" + pair.upper()
        index += 3
    _check_utf8(out, raw)
    return out.decode("ascii")


def _check_utf8(normalised: bytearray, raw: bytes) -> None:
    """Percent-encoded octets must spell UTF-8 (RFC 3986 §2.5): overlong and broken sequences are refused."""
    if b"%" not in normalised:
        return
    try:
        unquote_to_bytes(bytes(normalised)).decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise BadRequest(
            "the path contains percent-encoded bytes that are not UTF-8", log_detail=f"path {raw[:200]!r}"
        ) from None


def build_policy_path(path: str, *, allow_ambiguous: bool = False) -> str:
    """The path the policies match: the forwarded path, read as the app's server reads it. For an app that
    accepts path parameters, ``/admin;jsessionid=1`` is ``/admin`` to Tomcat, Jetty and Spring, and so to
    the rules (otherwise a deny rule on ``/admin`` would fail open)."""
    if not allow_ambiguous or ";" not in path:
        return path
    return "/".join(segment.split(";", 1)[0] for segment in path.split("/"))


def check_app_path(path: str, *, allow_ambiguous: bool = False) -> None:
    """Refuse a forwarded path that the app's server may read as another path (see the module docstring)."""
    if allow_ambiguous:
        return
    if ";" in path:
        raise BadRequest(
            "the path contains a ';' (path parameters are not accepted by this app)", log_detail=f"path {path[:200]!r}"
        )
    if "%25" in path and _DOUBLE_ENCODED.search(path):
        raise BadRequest("the path is percent-encoded twice", log_detail=f"path {path[:200]!r}")
    for segment in path.split("/"):
        if segment.endswith((".", "%20")):
            raise BadRequest("a path segment ends with a dot or a space", log_detail=f"path {path[:200]!r}")
