"""argon2id checks with kept memory blocks (``idp.passwords.verify_with_kept_blocks``) decide exactly as argon2-cffi's
own verification does, and keep at most one block however many checks run at once."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys

import pytest
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from idp.passwords import BLOCKS, HASHER, _verify, verify_with_kept_blocks

SMALL = PasswordHasher(time_cost=1, memory_cost=64, parallelism=2, hash_len=16, salt_len=8)


def _argon2_cffi_says(stored: str, password: str) -> bool:
    try:
        return PasswordHasher().verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@pytest.mark.parametrize("hasher", [HASHER, SMALL], ids=["owasp", "other-parameters"])
@pytest.mark.parametrize("password", ["kata-sandi-warga", "", "sandi dengan spasi é ñ 漢字", "x" * 128])
def test_kept_blocks_decide_as_argon2_does(hasher: PasswordHasher, password: str) -> None:
    stored = hasher.hash(password)
    assert verify_with_kept_blocks(stored, password) is True
    for other in (password + "x", password[:-1], password.upper() + "!"):
        if other != password:
            assert verify_with_kept_blocks(stored, other) is _argon2_cffi_says(stored, other) is False


def test_a_tampered_hash_is_refused() -> None:
    stored = HASHER.hash("kata-sandi-warga")
    head, digest = stored.rsplit("$", 1)
    flipped = head + "$" + ("A" if digest[0] != "A" else "B") + digest[1:]
    assert verify_with_kept_blocks(flipped, "kata-sandi-warga") is False
    cheaper = stored.replace("t=2", "t=1")
    assert verify_with_kept_blocks(cheaper, "kata-sandi-warga") is _argon2_cffi_says(cheaper, "kata-sandi-warga")


@pytest.mark.parametrize(
    "stored",
    [
        PasswordHasher(type=Type.I).hash("kata-sandi-warga"),  # another variant
        "$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",  # another version
        "$argon2id$v=19$m=19456,t=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",  # a cost missing
        "$argon2id$v=19$m=19456,t=2,p=1$c2F*bHQ$aGFzaGhhc2hoYXNoaGFzaA",  # not base64
        "$argon2id$v=19$m=19456,t=2,p=1$$aGFzaGhhc2hoYXNoaGFzaA",  # no salt
        "not a hash",
        "",
    ],
    ids=["argon2i", "version-16", "cost-missing", "bad-base64", "no-salt", "text", "empty"],
)
def test_what_the_kept_blocks_do_not_read_goes_to_argon2_cffi(stored: str) -> None:
    assert verify_with_kept_blocks(stored, "kata-sandi-warga") is None
    assert _verify(stored, "kata-sandi-warga", True) is _argon2_cffi_says(stored, "kata-sandi-warga")


def test_out_of_range_parameters_are_refused_not_raised() -> None:
    assert verify_with_kept_blocks("$argon2id$v=19$m=1,t=0,p=0$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "x") is False


def test_an_unknown_account_never_matches() -> None:
    stored = HASHER.hash("kata-sandi-warga")
    assert _verify(stored, "kata-sandi-warga", real=False) is False


def test_checks_at_once_keep_one_block() -> None:
    stored = HASHER.hash("kata-sandi-warga")
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: verify_with_kept_blocks(stored, "kata-sandi-warga"), range(12)))
    assert results == [True] * 12
    assert BLOCKS.kept_bytes() == 19 * 1024 * 1024


PROBE = """
import concurrent.futures, re
from gateway.cli.serve import fix_mmap_threshold, limit_malloc_arenas
fix_mmap_threshold()
limit_malloc_arenas()
from idp.passwords import _verify, hash_sync
stored = hash_sync("kata-sandi-warga")
def rss():
    return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read())[1]) // 1024
before = rss()
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    for _ in range(10):
        list(pool.map(lambda _: _verify(stored, "kata-sandi-warga", True), range(4)))
print(rss() - before)
"""


def test_a_worker_keeps_one_block_and_no_more() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    assert int(done.stdout.strip()) < 19 + 10  # the kept block, and no blocks retained by glibc's arenas
