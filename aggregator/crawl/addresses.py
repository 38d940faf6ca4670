"""Which network addresses a crawl may connect to: public ones, plus what settings.toml allows (pure)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_HINT = "allow it with [crawl] allow_networks or allow_private_networks in settings.toml"

# Checked in order, so the narrowest name wins (the metadata address before link-local). Python's ipaddress
# properties alone are not enough: on 3.11 `is_global` is True for 192.0.0.192, fec0::/10 and ::127.0.0.1.
_NAMED: tuple[tuple[str, str], ...] = (
    ("169.254.169.254/32", "a cloud-metadata address"),  # AWS, GCP, Azure, OpenStack, DigitalOcean
    ("169.254.170.2/32", "a cloud-metadata address"),  # AWS ECS task credentials
    ("100.100.100.200/32", "a cloud-metadata address"),  # Alibaba Cloud
    ("192.0.0.192/32", "a cloud-metadata address"),  # Oracle Cloud
    ("fd00:ec2::254/128", "a cloud-metadata address"),  # AWS over IPv6
    ("0.0.0.0/8", "an unspecified address"),  # "this network": 0.0.0.0 reaches the local host on Linux
    ("127.0.0.0/8", "a loopback address"),
    ("10.0.0.0/8", "a private address"),
    ("172.16.0.0/12", "a private address"),
    ("192.168.0.0/16", "a private address"),
    ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
    ("169.254.0.0/16", "a link-local address"),
    ("192.0.0.0/24", "a reserved address"),  # IETF protocol assignments
    ("192.0.2.0/24", "a documentation address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("224.0.0.0/4", "a multicast address"),
    ("255.255.255.255/32", "a broadcast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("::/128", "an unspecified address"),
    ("::1/128", "a loopback address"),
    ("::/96", "a reserved address"),  # the deprecated IPv4-compatible form
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("fc00::/7", "a unique-local address"),
    ("ff00::/8", "a multicast address"),
    ("100::/64", "a reserved address"),  # discard-only
    ("2001:db8::/32", "a documentation address"),
)
_TABLE: tuple[tuple[IPNetwork, str], ...] = tuple((ipaddress.ip_network(net), what) for net, what in _NAMED)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # the well-known prefix: the last 32 bits are an IPv4 address


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, 6to4, NAT64), which is where packets really go."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def non_public(address: IPAddress) -> str | None:
    """What kind of non-public address this is ("a private address", "a loopback address"...); None if public."""
    inner = embedded_ipv4(address)
    if inner is not None:
        what = non_public(inner)
        return f"{what} ({inner} in IPv6 form)" if what else None
    for network, what in _TABLE:
        if address.version == network.version and address in network:
            return what
    if not address.is_global or address.is_private or address.is_reserved or address.is_multicast:
        return "not a public address"
    return None


def parse_address(host: str) -> IPAddress | None:
    """`host` (from a URL, brackets and zone allowed) as an IP address, or None for a host name."""
    text = host.strip().strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def host_key(host: str) -> str:
    """A host name as compared with allow_networks entries: lower case, no trailing dot, no brackets."""
    return host.strip().strip("[]").rstrip(".").lower()


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses always; the rest only when allowed by network (CIDR) or by host name."""

    allow_all: bool = False
    networks: tuple[IPNetwork, ...] = ()
    names: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, allow_private_networks: bool, allow_networks: Iterable[str]) -> AddressPolicy:
        """The policy for [crawl] allow_private_networks and allow_networks (entries already validated)."""
        networks: list[IPNetwork] = []
        names: set[str] = set()
        for entry in allow_networks:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                names.add(host_key(entry))
        return cls(allow_private_networks, tuple(networks), frozenset(names))

    def refusal(self, host: str, resolved: str | None = None) -> str | None:
        """Why connecting to `host` (resolved to `resolved`; an IP literal stands for itself) is refused, or None.

        The reason reads "10.0.0.5 is a private address" or "intranet.example resolves to 10.0.0.5, a private
        address". A host name that is not resolved yet is allowed here: its address is checked once known.
        """
        if self.allow_all or host_key(host) in self.names:
            return None
        literal = parse_address(host)
        address = literal if literal is not None else parse_address(resolved or "")
        if address is None:
            return None
        what = non_public(address)
        if what is None or self._allowed(address):
            return None
        if literal is not None:
            return f"{address} is {what}"
        return f"{host_key(host)} resolves to {address}, {what}"

    def first_refused(self, host: str, addresses: Iterable[str]) -> tuple[str, str] | None:
        """The first of `host`'s resolved `addresses` that the policy refuses, with the reason; None if none is."""
        for address in addresses:
            reason = self.refusal(host, address)
            if reason is not None:
                return address, reason
        return None

    def _allowed(self, address: IPAddress) -> bool:
        inner = embedded_ipv4(address)
        candidates = [address] if inner is None else [address, inner]
        return any(a.version == net.version and a in net for a in candidates for net in self.networks)


def resolve(host: str, port: int | None = None) -> list[str]:
    """Every address a TCP connection to `host` may use (an IP literal: itself); OSError when it resolves nowhere."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
