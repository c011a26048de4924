"""Password hashing: argon2id at OWASP parameters (m=19 MiB, t=2, p=1), off the event loop.

argon2 releases the GIL, so hashes run in worker threads; a semaphore bounds how many run at once
(each holds 19 MiB), so a login flood cannot exhaust memory.
"""

from __future__ import annotations

import functools

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

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
    try:
        HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return real


def hash_sync(password: str) -> str:
    return HASHER.hash(password)
