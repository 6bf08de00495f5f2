"""The outbound guard's decision as pure vectors: no connection is opened here.

Every non-loopback form (private ranges, link-local, metadata, IPv6 forms that
embed an IPv4 address) is decided here and never connected to by any test.
"""

from __future__ import annotations

import pytest

from providers.netguard import GLOBAL, NEVER, PRIVATE, check_address, classify
from providers.netguard import normalize_host as norm


@pytest.mark.parametrize(
    ("host", "canonical"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f.0.0.0x1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("[::1]", "::1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("::FFFF:7F00:1", "::ffff:7f00:1"),
        ("[::127.0.0.1]", "::7f00:1"),
        ("[fe80::1%25eth0]", "fe80::1%eth0"),
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("Example.COM", "example.com"),
        ("08.0.0.1", "08.0.0.1"),  # not octal: getaddrinfo treats it as a name
        ("256.0.0.1", "256.0.0.1"),
        ("1.2.3.4.5", "1.2.3.4.5"),
        ("127.16777216", "127.16777216"),  # last part too large: a name
        ("0x", "0x"),
        ("[::ffff:0177.0.0.1]", "[::ffff:0177.0.0.1]"),
        ("cafe.be", "cafe.be"),
    ],
)
def test_every_ip_literal_spelling_normalizes_to_its_address(
    host: str, canonical: str
) -> None:
    assert norm(host) == canonical


@pytest.mark.parametrize(
    ("ip", "kind", "label"),
    [
        ("8.8.8.8", GLOBAL, "global"),
        ("1.1.1.1", GLOBAL, "global"),
        ("2606:4700::1111", GLOBAL, "global"),
        ("127.0.0.1", PRIVATE, "loopback"),
        ("127.255.255.254", PRIVATE, "loopback"),
        ("::1", PRIVATE, "loopback"),
        ("10.1.2.3", PRIVATE, "private"),
        ("172.16.0.1", PRIVATE, "private"),
        ("172.31.255.255", PRIVATE, "private"),
        ("192.168.1.1", PRIVATE, "private"),
        ("100.64.0.1", PRIVATE, "CGNAT"),
        ("100.127.255.254", PRIVATE, "CGNAT"),
        ("169.254.1.1", PRIVATE, "link-local"),
        ("fe80::1", PRIVATE, "link-local"),
        ("febf::1", PRIVATE, "link-local"),
        ("fe80::1%eth0", PRIVATE, "link-local"),
        ("fec0::1", PRIVATE, "site-local"),
        ("fc00::1", PRIVATE, "unique-local"),
        ("fd12:3456::1", PRIVATE, "unique-local"),
        ("192.0.2.1", PRIVATE, "documentation"),
        ("198.51.100.1", PRIVATE, "documentation"),
        ("203.0.113.1", PRIVATE, "documentation"),
        ("2001:db8::1", PRIVATE, "documentation"),
        ("198.18.0.1", PRIVATE, "benchmarking"),
        ("192.0.0.8", PRIVATE, "reserved"),
        ("100::1", PRIVATE, "discard"),
        ("4000::1", PRIVATE, "reserved"),
        ("::ffff:0:7f00:1", PRIVATE, "reserved"),  # IPv4-translated (RFC 2765)
        ("0.0.0.0", NEVER, "unspecified"),
        ("0.1.2.3", NEVER, "unspecified"),
        ("::", NEVER, "unspecified"),
        ("224.0.0.1", NEVER, "multicast"),
        ("239.255.255.250", NEVER, "multicast"),
        ("ff02::1", NEVER, "multicast"),
        ("240.0.0.1", NEVER, "reserved"),
        ("255.255.255.255", NEVER, "broadcast"),
        ("169.254.169.254", NEVER, "metadata"),
        ("169.254.170.2", NEVER, "metadata"),
        ("100.100.100.200", NEVER, "metadata"),
        ("168.63.129.16", NEVER, "metadata"),
        ("fd00:ec2::254", NEVER, "metadata"),
        ("example.com", NEVER, "not an IP"),
    ],
)
def test_each_address_range_has_its_class(ip: str, kind: str, label: str) -> None:
    found = classify(ip)
    assert (found.kind, label in found.label) == (kind, True), found


@pytest.mark.parametrize(
    ("ip", "kind", "embedded"),
    [
        # IPv4-mapped: a dual-stack socket reaches the IPv4 address itself.
        ("::ffff:127.0.0.1", PRIVATE, "loopback"),
        ("::ffff:10.0.0.1", PRIVATE, "private"),
        ("::ffff:169.254.169.254", NEVER, "metadata"),
        ("::ffff:8.8.8.8", GLOBAL, "global"),
        # IPv4-compatible: deprecated, not loopback, never routed: private at
        # least, whatever it embeds; never when the embedded address is never.
        ("::127.0.0.1", PRIVATE, "127.0.0.1"),
        ("::10.0.0.1", PRIVATE, "10.0.0.1"),
        ("::8.8.8.8", PRIVATE, "8.8.8.8"),
        ("::169.254.169.254", NEVER, "169.254.169.254"),
        ("::0.0.0.2", NEVER, "0.0.0.2"),
        # NAT64: the translator connects to the embedded address.
        ("64:ff9b::127.0.0.1", PRIVATE, "loopback"),
        ("64:ff9b::169.254.169.254", NEVER, "metadata"),
        ("64:ff9b::8.8.8.8", GLOBAL, "global"),
        ("64:ff9b:1::1", PRIVATE, "local-use NAT64"),
        # 6to4: delivered through the embedded address.
        ("2002:7f00:1::1", PRIVATE, "loopback"),
        ("2002:a9fe:a9fe::1", NEVER, "metadata"),
        ("2002:c0a8:101::1", PRIVATE, "private"),
        ("2002:808:808::1", GLOBAL, "global"),
        # Teredo: a relay's address, not an endpoint: private.
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", PRIVATE, "Teredo"),
    ],
)
def test_ipv6_forms_that_carry_an_ipv4_address_are_decided_by_what_they_reach(
    ip: str, kind: str, embedded: str
) -> None:
    found = classify(ip)
    assert (found.kind, embedded in found.label) == (kind, True), found


def test_ipv4_compatible_loopback_is_not_loopback() -> None:
    assert classify("::127.0.0.1").loopback is False
    assert classify("::ffff:127.0.0.1").loopback is True
    assert classify("64:ff9b::127.0.0.1").loopback is False


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "::1",
        "::ffff:7f00:1",
        "::7f00:1",
        "10.0.0.1",
        "100.64.0.1",
        "169.254.1.1",
        "fe80::1",
        "fec0::1",
        "fc00::1",
        "2001::1",
    ],
)
def test_private_addresses_are_refused_unless_allowed(ip: str) -> None:
    assert check_address(ip, allow_private=False)
    assert check_address(ip, allow_private=True) is None


@pytest.mark.parametrize(
    "ip", ["0.0.0.0", "::", "224.0.0.1", "ff02::1", "169.254.169.254", "fd00:ec2::254"]
)
def test_never_addresses_are_refused_even_when_private_is_allowed(ip: str) -> None:
    assert check_address(ip, allow_private=True, allow_loopback=True)


def test_the_loopback_switch_admits_loopback_alone() -> None:
    assert check_address("127.0.0.1", False, allow_loopback=True) is None
    assert check_address("::1", False, allow_loopback=True) is None
    assert check_address("::ffff:127.0.0.1", False, allow_loopback=True) is None
    for ip in ("::127.0.0.1", "10.0.0.1", "169.254.1.1", "64:ff9b::7f00:1"):
        assert check_address(ip, False, allow_loopback=True), ip


def test_global_addresses_pass_and_the_reason_names_the_address() -> None:
    assert check_address("8.8.8.8", allow_private=False) is None
    assert check_address("0177.0.0.1", False) == "127.0.0.1 is a loopback address"
