"""Request-target paths, normalised once (RFC 3986 §6.2.2) and refused when ambiguous.

The gateway authorizes and forwards the same string: ``normalise_path`` works on the raw
bytes the client sent (``scope["raw_path"]``), not on the server's decoded ``scope["path"]``,
so what the route table and the policies see is byte for byte what the upstream receives.

Normalisation: percent-encoded unreserved characters are decoded (§2.3), other
percent-encodings get upper-case hex (§6.2.2.1), ``.`` segments are removed and empty
segments (``//``) collapsed. Refused with 400, because servers behind us disagree on what
they mean: an encoded ``/``, ``\\`` or NUL, any ``..`` segment (raw or encoded, and the
``..;`` form some Java servers read as ``..``), a backslash, control characters, raw
non-ASCII bytes, broken percent-encoding, and targets that are not origin-form.
"""

from __future__ import annotations

from functools import lru_cache

from gateway.errors import BadRequest

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset(b"0123456789abcdefABCDEF")
# Bytes allowed raw in a path: RFC 3986 pchar + "/" (percent handled separately).
_RAW_ALLOWED = _UNRESERVED | frozenset(b"!$&'()*+,;=:@/%")
# Encoded bytes that change a path's meaning for some server behind us.
_AMBIGUOUS_ENCODED = frozenset(b"/\\") | frozenset(range(0x20)) | {0x7F}


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
        raise BadRequest("the path contains a character that must be percent-encoded",
                         log_detail=f"path {raw[:200]!r}")
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
        pair = raw[index + 1:index + 3]
        if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
            raise BadRequest("the path has a broken percent-encoding", log_detail=f"path {raw[:200]!r}")
        value = int(pair, 16)
        if value in _AMBIGUOUS_ENCODED:
            raise BadRequest("the path contains an encoded separator or control character",
                             log_detail=f"path {raw[:200]!r}")
        if value in _UNRESERVED:
            out.append(value)
        else:
            out += b"%" + pair.upper()
        index += 3
    return out.decode("ascii")
