"""The one function that builds every rate-limit key in Redis (and in the memory store).

    {prefix}:rl:{<limit id>:<subject>}:<kind>      kind = gcra | day | month

The braces are a Redis Cluster hash tag (Cluster spec, "Hash tags"): only the part between them is hashed, so
all of one limit's keys for one subject live in one slot. Parts are percent-encoded so that a subject can
never close the tag or forge another limit's key (an IPv6 address keeps its meaning: ``:`` becomes ``%3A``);
an over-long subject is replaced by its SHA-256 so a key stays small.
"""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._~@+\-]")
_SAFE = re.compile(r"[A-Za-z0-9._~@+\-]{1,96}")
MAX_PART = 96


def build_key(prefix: str, limit_id: str, subject: str, kind: str) -> str:
    return f"{prefix}:rl:{{{_encode(limit_id)}:{_encode(subject)}}}:{kind}"


def _encode(part: str) -> str:
    if _SAFE.fullmatch(part):
        return part
    encoded = _UNSAFE.sub(lambda match: "".join(f"%{byte:02X}" for byte in match.group().encode()), part)
    if len(encoded) > MAX_PART:
        return "sha256=" + hashlib.sha256(part.encode()).hexdigest()[:32]
    return encoded
