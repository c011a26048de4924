"""Password hashing: argon2id at OWASP parameters (m=19 MiB, t=2, p=1), off the event loop.

argon2 releases the GIL, so hashes run in worker threads; a semaphore bounds how many run at once
(each holds 19 MiB), so a login flood cannot exhaust memory.

A check's 19 MiB of argon2 memory comes from ``ArgonBlocks``: one block is kept and lent again, rather than
mapped fresh from the system for every check (``gateway.cli.serve`` makes glibc return large blocks when freed,
so without it every check page-faulted 19 MiB in: ~8 ms of its ~28 ms of CPU, measured 2026-12-07).
"""

from __future__ import annotations

import base64
import functools
import hmac
import threading
from typing import Any

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import Type, ffi, lib

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16)
MIN_LENGTH = 8
MAX_LENGTH = 128


@functools.cache
def dummy_hash() -> str:
    """A hash verified against when the account does not exist, so timing does not tell (made on first use:
    hashing at import would add ~50 ms and a 19 MiB allocation to every worker's start)."""
    return HASHER.hash("gerbang-dummy-password")


class PasswordHashing:
    def __init__(self, concurrency: int) -> None:
        self._limiter = anyio.CapacityLimiter(concurrency)

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(HASHER.hash, password, limiter=self._limiter)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        return await anyio.to_thread.run_sync(
            _verify, stored_hash or dummy_hash(), password, stored_hash is not None, limiter=self._limiter
        )


def _verify(stored_hash: str, password: str, real: bool) -> bool:
    matched = verify_with_kept_blocks(stored_hash, password)
    if matched is None:  # not an argon2id v19 hash of ours: argon2-cffi decides (and refuses what it cannot read)
        try:
            HASHER.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        matched = True
    return matched and real


class ArgonBlocks:
    """argon2's memory allocator (``argon2_context.allocate_cbk``/``free_cbk``): up to ``keep`` blocks are kept
    after use and lent to the next check of the same size; more checks at once get blocks of their own, returned
    to the system when freed. argon2 wipes a block before freeing it (its ``clear_internal_memory``)."""

    def __init__(self, keep: int = 1) -> None:
        self._keep = keep
        self._kept: list[Any] = []
        self._lent: dict[int, Any] = {}
        self._lock = threading.Lock()
        self.allocate = ffi.callback("allocate_fptr", self._allocate)
        self.free = ffi.callback("deallocate_fptr", self._free)

    def _allocate(self, memory: Any, size: int) -> int:
        with self._lock:
            block = next((kept for kept in self._kept if len(kept) == size), None)
            if block is not None:
                self._kept.remove(block)
        if block is None:
            block = ffi.new("uint8_t[]", size)
        pointer = ffi.cast("uint8_t *", block)
        with self._lock:
            self._lent[int(ffi.cast("uintptr_t", pointer))] = block
        memory[0] = pointer
        return int(lib.ARGON2_OK)

    def _free(self, memory: Any, _size: int) -> None:
        with self._lock:
            block = self._lent.pop(int(ffi.cast("uintptr_t", memory)), None)
            if block is not None and len(self._kept) < self._keep:
                self._kept.append(block)

    def kept_bytes(self) -> int:
        with self._lock:
            return sum(len(block) for block in self._kept)


BLOCKS = ArgonBlocks()


def verify_with_kept_blocks(stored_hash: str, password: str) -> bool | None:
    """argon2id verification as ``argon2_verify`` does it (decode, hash again, compare in constant time), with
    ``BLOCKS`` for memory. ``None``: the hash is not in the encoding ``HASHER`` writes (argon2id, v=19)."""
    parsed = _parse_argon2id(stored_hash)
    if parsed is None:
        return None
    memory_cost, time_cost, lanes, salt, expected = parsed
    secret = password.encode()
    out = ffi.new("uint8_t[]", len(expected))
    salt_buffer = ffi.new("uint8_t[]", salt)
    password_buffer = ffi.new("uint8_t[]", secret)
    context = ffi.new(
        "argon2_context *",
        {
            "out": out,
            "outlen": len(expected),
            "pwd": password_buffer,
            "pwdlen": len(secret),
            "salt": salt_buffer,
            "saltlen": len(salt),
            "secret": ffi.NULL,
            "secretlen": 0,
            "ad": ffi.NULL,
            "adlen": 0,
            "t_cost": time_cost,
            "m_cost": memory_cost,
            "lanes": lanes,
            "threads": lanes,
            "version": lib.ARGON2_VERSION_NUMBER,
            "allocate_cbk": BLOCKS.allocate,
            "free_cbk": BLOCKS.free,
            "flags": lib.ARGON2_DEFAULT_FLAGS,
        },
    )
    if lib.argon2_ctx(context, Type.ID.value) != lib.ARGON2_OK:
        return False  # parameters out of argon2's range, as argon2_verify refuses them
    return hmac.compare_digest(bytes(ffi.buffer(out, len(expected))), expected)


def _parse_argon2id(stored_hash: str) -> tuple[int, int, int, bytes, bytes] | None:
    """``$argon2id$v=19$m=M,t=T,p=P$salt$hash`` (PHC string, unpadded base64) -> (M, T, P, salt, hash)."""
    parts = stored_hash.split("$")
    if len(parts) != 6 or parts[0] or parts[1] != "argon2id" or parts[2] != "v=19":
        return None
    costs = parts[3].split(",")
    if [cost[:2] for cost in costs] != ["m=", "t=", "p="] or not all(cost[2:].isdigit() for cost in costs):
        return None
    memory_cost, time_cost, lanes = (int(cost[2:]) for cost in costs)
    try:
        salt, expected = (base64.b64decode(part + "=" * (-len(part) % 4), validate=True) for part in parts[4:])
    except ValueError:
        return None
    if not salt or not expected:
        return None
    return memory_cost, time_cost, lanes, salt, expected


def hash_sync(password: str) -> str:
    return HASHER.hash(password)
