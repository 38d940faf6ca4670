"""Loopback hosts, and registrable domains from the bundled public suffix list without any network access."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from aggregator.network import _extractor, is_loopback, registrable_domain


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST", "LocalHost", "127.0.0.1", "127.1.2.3", "127.255.255.254", "::1", "[::1]",
     "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"],
)  # fmt: skip
def test_loopback_forms(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host",
    ["", "0.0.0.0", "::", "128.0.0.1", "192.168.1.10", "10.0.0.1", "::2", "[::2]", "::ffff:10.0.0.1",
     "smtp.example.org", "localhost.example.org", "mylocalhost", "127.0.0.1.example.org", "[127.0.0.1"],
)  # fmt: skip
def test_not_loopback(host: str) -> None:
    # Names are never resolved: "localhost.example.org" might well point at 127.0.0.1, and still says no.
    assert not is_loopback(host)


@pytest.mark.parametrize(
    ("value", "domain"),
    [
        ("www.example.com", "example.com"),
        ("example.com", "example.com"),
        ("news.example.com.mx", "example.com.mx"),
        ("a.b.gob.mx", "b.gob.mx"),
        ("bbc.co.uk", "bbc.co.uk"),
        ("www.bbc.co.uk", "bbc.co.uk"),
        ("es.insightcrime.org", "insightcrime.org"),
        ("WWW.Example.COM.", "example.com"),
        ("https://news.example.com.mx:8443/feed?x=1", "example.com.mx"),
        ("http://user@feeds.elpais.com:80/rss", "elpais.com"),
        ("example.com:8080", "example.com"),
        ("foo.blogspot.com", "blogspot.com"),  # the suffix list's private section is not used
        ("co.uk", "co.uk"),  # a public suffix itself: nothing registrable under it
        ("intranet.example.test", "example.test"),  # an unlisted suffix counts as one label
        ("localhost", "localhost"),
        ("192.168.1.10", "192.168.1.10"),
        ("http://127.0.0.1:8080/feed", "127.0.0.1"),
        ("http://[2001:DB8::1]:8080/", "2001:db8::1"),
        ("::1", "::1"),
        ("", ""),
        ("http://[::1/", ""),
    ],
)
def test_registrable_domain(value: str, domain: str) -> None:
    assert registrable_domain(value) == domain


def test_two_addresses_are_two_sites() -> None:
    # The old guess took the last two labels, so 10.0.1.10 and 192.168.1.10 were one "site".
    assert registrable_domain("http://10.0.1.10/") != registrable_domain("http://192.168.1.10/")


def test_extractor_is_built_once_from_the_bundled_list() -> None:
    extractor = _extractor()
    assert _extractor() is extractor
    assert tuple(extractor.suffix_list_urls) == ()  # no publicsuffix.org fetch
    assert extractor.fallback_to_snapshot
    assert not extractor._cache.enabled  # no cache directory read or written


# Run in a fresh interpreter, so the extractor is built there, with every proxy pointing at a closed port and an
# audit hook recording every name look-up and outgoing connection or datagram. (Opening and binding a socket is
# not counted: urllib3, under tldextract, binds one to ::1 at import to learn whether IPv6 works.)
_NO_NETWORK = """
import json, sys
OUT = ("socket.connect", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo", "socket.gethostbyname",
       "socket.gethostbyname_ex", "socket.gethostbyaddr", "socket.getnameinfo")
events = []
sys.addaudithook(lambda event, args: events.append([event, repr(args)]) if event in OUT else None)
from aggregator.network import registrable_domain
domains = [registrable_domain(h) for h in ("www.example.com", "news.example.com.mx", "bbc.co.uk")]
print(json.dumps({"domains": domains, "socket_events": sorted(set(events))}))
"""


def test_registrable_domain_makes_no_network_call() -> None:
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens there
    env = {**os.environ, "HTTP_PROXY": closed, "HTTPS_PROXY": closed, "http_proxy": closed, "https_proxy": closed}
    env.pop("TLDEXTRACT_CACHE", None)
    done = subprocess.run(
        [sys.executable, "-c", _NO_NETWORK], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    result = json.loads(done.stdout)
    assert result == {"domains": ["example.com", "example.com.mx", "bbc.co.uk"], "socket_events": []}
    assert "Public Suffix" not in done.stderr  # tldextract logs a warning when a fetch fails
