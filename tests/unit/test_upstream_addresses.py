"""idp.upstream_addresses: loopback, link-local, metadata and friends are refused in every spelling."""

from __future__ import annotations

import pytest

from idp.upstream_addresses import UpstreamAddresses, UpstreamRefused, check_upstream_address

STRICT = UpstreamAddresses()


@pytest.mark.parametrize(
    "refused_address",
    [
        "169.254.169.254",
        "169.254.0.1",
        "fe80::1",
        "fe80::1%eth0",
        "127.0.0.1",
        "127.9.9.9",
        "::1",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "ff02::1",
        "255.255.255.255",
        "100.100.100.200",
        "fd00:ec2::254",
        "::ffff:169.254.169.254",
        "::ffff:127.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "2002:a9fe:a9fe::1",
        "::127.0.0.1",
        "::a9fe:a9fe",
    ],
)
def test_special_addresses_are_refused_by_default(refused_address: str) -> None:
    assert STRICT.refusal(refused_address) is not None
    with pytest.raises(UpstreamRefused, match="GERBANG_UPSTREAM_ALLOW"):
        STRICT.check(refused_address)


@pytest.mark.parametrize(
    "address", ["10.0.3.5", "172.16.0.9", "192.168.1.10", "fd12:3456::1", "203.0.113.7", "2001:db8::1"]
)
def test_private_and_public_addresses_are_allowed_by_default(address: str) -> None:
    assert STRICT.refusal(address) is None


def test_allow_wins_and_deny_adds() -> None:
    addresses = UpstreamAddresses(allow=("127.0.0.0/8", "169.254.169.254/32"), deny=("10.0.0.0/8",))
    assert addresses.refusal("127.0.0.1") is None
    assert addresses.refusal("169.254.169.254") is None and addresses.refusal("169.254.1.1") is not None
    assert addresses.refusal("::ffff:127.0.0.1") is None  # judged by the IPv4 address it carries
    assert "GERBANG_UPSTREAM_DENY" in (addresses.refusal("10.1.2.3") or "")
    assert addresses.refusal("192.168.0.1") is None


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]:8080",
        "http://[::ffff:a9fe:a9fe]/",
        "http://localhost:8080",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://127.1:9000",
        "http://0/",
    ],
)
async def test_registration_checks_literals_and_every_address_a_name_resolves_to(url: str) -> None:
    with pytest.raises(UpstreamRefused):
        await check_upstream_address(url, STRICT)


async def test_a_name_that_does_not_resolve_is_left_to_the_connect_time_check() -> None:
    await check_upstream_address("http://upstream.invalid:8080", STRICT)
