"""Host names and addresses: whether a host is this machine (loopback), and a host's registrable domain."""

from __future__ import annotations

import ipaddress
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from tldextract import TLDExtract


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only: "localhost" (any case), 127.0.0.0/8, "::1" or "[::1]".

    Other names are not resolved (a name that resolves to 127.0.0.1 today may not tomorrow).
    """
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    # ::ffff:127.0.0.1 is IPv4 loopback written as IPv6; Python before 3.13 does not call it loopback.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


@cache
def _extractor() -> TLDExtract:
    # Imported here, not at the top: tldextract (and requests under it) costs 0.2 s, and is_loopback needs neither.
    import tldextract

    # The public suffix list bundled with the package only: no fetch of publicsuffix.org, no cache on disk.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def registrable_domain(host_or_url: str) -> str:
    """The domain a registrant owns: "example.com" for www.example.com, "example.com.mx" for news.example.com.mx.

    Takes a host name or a URL (any scheme, port, user or path). The answer is lower-case, without a trailing dot.
    By the public suffix list's ICANN section (bundled with tldextract, never fetched), so "bbc.co.uk" and
    "b.gob.mx" (for a.b.gob.mx) are domains, but "foo.blogspot.com" belongs to "blogspot.com". An IP address
    is its own answer ("127.0.0.1", "::1"), as is a host that is a public suffix itself ("co.uk") or a single
    label ("localhost"); under a suffix the list does not know ("intranet.test") the last two labels are used.
    "" when there is no host.
    """
    value = host_or_url.strip()
    try:
        # A bare IPv6 address ("::1") is no netloc urlsplit can read.
        return ipaddress.ip_address(value.removeprefix("[").removesuffix("]")).compressed
    except ValueError:
        pass
    try:
        host = (urlsplit(value if "//" in value else f"//{value}").hostname or "").rstrip(".")
    except ValueError:  # an unbalanced "[" in the netloc
        return ""
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        pass
    if "." not in host:
        return host
    parts = _extractor()(host)
    if not parts.suffix:
        return ".".join(host.split(".")[-2:])
    if not parts.domain:
        return host
    return f"{parts.domain}.{parts.suffix}"
