"""The outbound address guard's decision: pure functions, no I/O.

``normalize_host(host)`` turns every spelling of an IP literal into its canonical
text (what the connection will actually reach) and leaves names alone;
``check_address(ip, allow_private)`` says why an address may not be connected to,
or ``None`` when it may. ``providers/http.py`` applies both to every connection
(after resolving names once, and connecting to the checked address).

Classes of address (explicit tables, not ``ipaddress.is_global``, whose answers
change between Python patch releases):

- **global**: allowed.
- **private**: loopback, RFC 1918, CGNAT 100.64/10, link-local 169.254/16 and
  fe80::/10, site-local fec0::/10, unique-local fc00::/7, documentation,
  benchmarking and other special-purpose ranges, IPv6 outside 2000::/3. Allowed
  only with ``allow_private`` (``PROVIDERS_ALLOW_PRIVATE_IPS``: a local Ollama).
- **never**: unspecified (0.0.0.0/8, ::; connecting to it reaches this host),
  multicast, 240/4 and broadcast, and cloud metadata services (AWS, ECS, EKS,
  Alibaba, Azure). Nothing legitimate serves a model there.

IPv6 forms that carry an IPv4 address are decided by what they reach:

- IPv4-mapped ``::ffff:a.b.c.d``: a dual-stack socket connects to a.b.c.d itself,
  so it is exactly that IPv4 address.
- NAT64 ``64:ff9b::/96``: the translator connects to the embedded address, so it
  is decided by it (``64:ff9b:1::/48``, local-use NAT64, is private).
- 6to4 ``2002::/16``: delivered through the embedded address's 6to4 router, so it
  is decided by the embedded address.
- IPv4-compatible ``::a.b.c.d`` (``[::127.0.0.1]``): deprecated (RFC 4291) and
  never routed on the Internet. It is *not* loopback (only ``::1`` is), but stacks
  with automatic tunnelling deliver it to the embedded IPv4 address, so it is
  private (blocked unless allowed) whatever it embeds, and never-allowed when the
  embedded address is.
- Teredo ``2001::/32`` sits in the IETF protocol range 2001::/23 and is private:
  its client address is obfuscated and its server is a relay, not an endpoint.

Zone ids (``fe80::1%eth0``) are kept in the canonical text and ignored by the
decision, which depends on the address alone.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

GLOBAL = "global"
PRIVATE = "private"
NEVER = "never"

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Checked first: single hosts that would otherwise fall in a private range.
_V4_METADATA = (
    _V4("169.254.169.254/32"),  # AWS, GCP, Azure, OpenStack instance metadata
    _V4("169.254.170.2/32"),  # AWS ECS task metadata and credentials
    _V4("169.254.170.23/32"),  # AWS EKS pod identity agent
    _V4("100.100.100.200/32"),  # Alibaba Cloud metadata
    _V4("168.63.129.16/32"),  # Azure wire server (a public address)
)
_V6_METADATA = (
    _V6("fd00:ec2::254/128"),  # AWS instance metadata over IPv6
    _V6("fd00:ec2::23/128"),  # AWS EKS pod identity agent over IPv6
)
_V4_TABLE: tuple[tuple[ipaddress.IPv4Network, str, str], ...] = (
    (_V4("0.0.0.0/8"), NEVER, "an unspecified address"),
    (_V4("127.0.0.0/8"), PRIVATE, "a loopback address"),
    (_V4("10.0.0.0/8"), PRIVATE, "a private address"),
    (_V4("172.16.0.0/12"), PRIVATE, "a private address"),
    (_V4("192.168.0.0/16"), PRIVATE, "a private address"),
    (_V4("100.64.0.0/10"), PRIVATE, "a shared (CGNAT) address"),
    (_V4("169.254.0.0/16"), PRIVATE, "a link-local address"),
    (_V4("192.0.0.0/24"), PRIVATE, "a reserved address"),
    (_V4("192.0.2.0/24"), PRIVATE, "a documentation address"),
    (_V4("198.51.100.0/24"), PRIVATE, "a documentation address"),
    (_V4("203.0.113.0/24"), PRIVATE, "a documentation address"),
    (_V4("198.18.0.0/15"), PRIVATE, "a benchmarking address"),
    (_V4("192.88.99.0/24"), PRIVATE, "a reserved address"),
    (_V4("224.0.0.0/4"), NEVER, "a multicast address"),
    (_V4("255.255.255.255/32"), NEVER, "a broadcast address"),
    (_V4("240.0.0.0/4"), NEVER, "a reserved address"),
)
_V6_TABLE: tuple[tuple[ipaddress.IPv6Network, str, str], ...] = (
    (_V6("64:ff9b:1::/48"), PRIVATE, "a local-use NAT64 address"),
    (_V6("100::/64"), PRIVATE, "a discard-only address"),
    (_V6("2001:db8::/32"), PRIVATE, "a documentation address"),
    (_V6("2001::/32"), PRIVATE, "a Teredo address"),
    (_V6("2001::/23"), PRIVATE, "a reserved address"),
    (_V6("3fff::/20"), PRIVATE, "a documentation address"),
    (_V6("5f00::/16"), PRIVATE, "a reserved address"),
    (_V6("fc00::/7"), PRIVATE, "a unique-local address"),
    (_V6("fe80::/10"), PRIVATE, "a link-local address"),
    (_V6("fec0::/10"), PRIVATE, "a site-local address"),
    (_V6("ff00::/8"), NEVER, "a multicast address"),
)
_V6_GLOBAL_UNICAST = _V6("2000::/3")
_MAPPED = _V6("::ffff:0:0/96")
_COMPATIBLE = _V6("::/96")
_NAT64 = _V6("64:ff9b::/96")
_SIX_TO_FOUR = _V6("2002::/16")


@dataclass(frozen=True)
class Classification:
    """What an address is: ``kind`` (global, private, never) and a label."""

    kind: str
    label: str
    loopback: bool = False


def _parse_ipv4_part(part: str) -> int | None:
    """One part of an inet_aton() address: decimal, 0-prefixed octal or 0x hex."""
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    if not digits or not digits.isascii() or not digits.isalnum():
        return None
    try:
        return int(digits, base)
    except ValueError:
        return None


def _parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Every form inet_aton() (hence getaddrinfo) accepts: ``127.1``, ``0177.0.0.1``,
    ``2130706433``, ``0x7f000001``, ``0x7f.1``; one trailing dot is ignored."""
    if host.endswith("."):
        host = host[:-1]
    parts = host.split(".")
    if not host or len(parts) > 4:
        return None
    numbers = [_parse_ipv4_part(p) if p else None for p in parts]
    if any(n is None for n in numbers):
        return None
    *head, last = [int(n) for n in numbers if n is not None]
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def parse_ip(host: str) -> IPAddress | None:
    """The address a host literal denotes (any spelling), or None for a name."""
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.replace("%25", "%")  # a URL-encoded zone separator
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    return _parse_ipv4(text)


@lru_cache(maxsize=4096)
def normalize_host(host: str) -> str:
    """The canonical text of an IP literal (``127.0.0.1``, ``::1``), else the name
    lower-cased. Brackets and URL-encoded zone separators are removed."""
    ip = parse_ip(host)
    return str(ip) if ip is not None else host.strip().lower()


def _classify_v4(ip: ipaddress.IPv4Address) -> Classification:
    if any(ip in net for net in _V4_METADATA):
        return Classification(NEVER, "a cloud metadata address")
    for net, kind, label in _V4_TABLE:
        if ip in net:
            return Classification(kind, label, loopback=label == "a loopback address")
    return Classification(GLOBAL, "a global address")


def _embedded(outer: str, inner: Classification, same: bool = False) -> Classification:
    """An IPv6 form decided by its IPv4 address; ``same``: the socket reaches it."""
    label = f"{outer} address embedding {inner.label}"
    return Classification(inner.kind, label, inner.loopback and same)


def _classify_v6(ip: ipaddress.IPv6Address) -> Classification:
    if ip.scope_id:
        ip = ipaddress.IPv6Address(ip.packed)
    value = int(ip)
    v4 = ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if value == 0:
        return Classification(NEVER, "an unspecified address")
    if value == 1:
        return Classification(PRIVATE, "a loopback address", loopback=True)
    if ip in _MAPPED:
        return _embedded("an IPv4-mapped", _classify_v4(v4), same=True)
    if ip in _COMPATIBLE:
        inner = _classify_v4(v4)
        kind = NEVER if inner.kind == NEVER else PRIVATE
        return Classification(kind, f"an IPv4-compatible address (for {v4})")
    if ip in _NAT64:
        return _embedded("a NAT64", _classify_v4(v4))
    if ip in _SIX_TO_FOUR:
        return _embedded("a 6to4", _classify_v4(ipaddress.IPv4Address(ip.sixtofour)))
    if any(ip in net for net in _V6_METADATA):
        return Classification(NEVER, "a cloud metadata address")
    for net, kind, label in _V6_TABLE:
        if ip in net:
            return Classification(kind, label)
    if ip not in _V6_GLOBAL_UNICAST:
        return Classification(PRIVATE, "a reserved address")
    return Classification(GLOBAL, "a global address")


@lru_cache(maxsize=4096)
def classify(ip: str) -> Classification:
    """The class of one IP address (canonical or not); a non-address is never."""
    address = parse_ip(ip)
    if address is None:
        return Classification(NEVER, "not an IP address")
    if isinstance(address, ipaddress.IPv4Address):
        return _classify_v4(address)
    return _classify_v6(address)


def check_address(
    ip: str, allow_private: bool, *, allow_loopback: bool = False
) -> str | None:
    """Why ``ip`` may not be connected to (e.g. "127.0.0.1 is a loopback
    address"), or None when it may. ``allow_private`` admits the private class;
    ``allow_loopback`` admits loopback alone (the image fetch's test switch)."""
    found = classify(ip)
    if found.kind == GLOBAL:
        return None
    if found.kind == PRIVATE and (allow_private or (allow_loopback and found.loopback)):
        return None
    return f"{normalize_host(ip)} is {found.label}"
