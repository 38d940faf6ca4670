"""The crawler refuses non-public addresses (feeds, article pages, redirects, sitemap children, robots.txt, probes)
unless settings.toml allows them; 127.0.0.2 stands for another machine on a private network."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.crawl.addresses import ALLOW_HINT, AddressPolicy, parse_address
from aggregator.crawl.probe import probe
from aggregator.crawl.trial import discover, fetcher
from aggregator.errors import ParseError
from aggregator.models import Fetch, Item, Source
from aggregator.store.database import Database
from tests import feedgen
from tests.crawling import catalog, fast_settings, run, source
from tests.httpserver import Reply, TestServer

# What a cloud provider's metadata service hands out; the item linking to it must never get this as its text.
SECRET = "AccessKeyId ASIAEXAMPLESECRET SecretAccessKey wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY Token IQoJb3JpZ2luX2Vj"
ARTICLE = [
    "Soldiers detained four men after a shootout near the highway to Caborca, state officials said on Monday.",
    "Investigators linked the detainees to a faction fighting for control of smuggling routes to Arizona.",
]


def refused(url: str, reason: str, via: str | None = None) -> str:
    return f"fetch: refused {url}" + (f" (redirected from {via})" if via else "") + f": {reason}; {ALLOW_HINT}"


@pytest.fixture
def other() -> Iterator[TestServer]:
    """A second real server, on 127.0.0.2: loopback on Linux, so it would answer if the crawler connected."""
    with TestServer(host="127.0.0.2") as srv:
        yield srv


def _page(title: str, text: str) -> Reply:
    return Reply(body=feedgen.article_page(title, [text, *ARTICLE]), content_type="text/html; charset=utf-8")


def _last_error(db: Database, source_id: str) -> str | None:
    with db.session() as session:
        row = session.get(Source, source_id)
        assert row is not None
        return row.last_error


@pytest.mark.parametrize(
    ("address", "what"),
    [
        ("10.0.0.5", "a private address"),
        ("172.20.1.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("127.0.0.2", "a loopback address"),
        ("::1", "a loopback address"),
        ("169.254.169.254", "a cloud-metadata address"),
        ("fd00:ec2::254", "a cloud-metadata address"),
        ("192.0.0.192", "a cloud-metadata address"),  # Oracle's; Python 3.11 calls it global
        ("169.254.10.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("fc00::1", "a unique-local address"),
        ("fec0::1", "a site-local address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("0.1.2.3", "an unspecified address"),
        ("::", "an unspecified address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("255.255.255.255", "a broadcast address"),
        ("240.0.0.1", "a reserved address"),
        ("::127.0.0.1", "a reserved address"),  # the deprecated IPv4-compatible form
        ("198.18.0.1", "a benchmarking address"),
        ("2001:db8::1", "a documentation address"),
        ("2001::1", "not a public address"),  # Teredo
        ("::ffff:10.0.0.5", "a private address (10.0.0.5 in IPv6 form)"),
        ("::ffff:169.254.169.254", "a cloud-metadata address (169.254.169.254 in IPv6 form)"),
        ("2002:a00:5::", "a private address (10.0.0.5 in IPv6 form)"),  # 6to4
        ("64:ff9b::7f00:1", "a loopback address (127.0.0.1 in IPv6 form)"),  # NAT64
    ],
)
def test_every_kind_of_non_public_address_is_refused_and_named(address: str, what: str) -> None:
    policy = AddressPolicy()
    assert policy.refusal(address) == f"{parse_address(address)} is {what}"
    assert policy.refusal(f"[{address}]" if ":" in address else address) is not None  # as written in a URL
    assert policy.refusal("news.example", address) == f"news.example resolves to {parse_address(address)}, {what}"
    assert AddressPolicy(allow_all=True).refusal(address) is None


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "151.101.1.69", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_pass(address: str) -> None:
    assert AddressPolicy().refusal(address) is None
    assert AddressPolicy().refusal("news.example", address) is None


def test_allow_networks_allows_exactly_its_networks_and_names() -> None:
    policy = AddressPolicy.from_settings(False, ["127.0.0.1/32", "10.20.0.0/16", "intranet.example"])
    assert policy.refusal("127.0.0.1") is None and policy.refusal("[::ffff:127.0.0.1]") is None
    assert policy.refusal("127.0.0.2") == "127.0.0.2 is a loopback address"
    assert policy.refusal("10.20.3.4") is None and policy.refusal("10.21.0.1") == "10.21.0.1 is a private address"
    assert policy.refusal("Intranet.Example.", "10.9.9.9") is None  # a name is allowed whatever it resolves to
    assert policy.refusal("other.example", "10.9.9.9") == "other.example resolves to 10.9.9.9, a private address"
    assert policy.refusal("other.example") is None  # not resolved yet: the resolver checks the address


def test_default_settings_refuse_loopback_by_address_and_by_name(
    tmp_path: Path, sqlite_url: str, server: TestServer
) -> None:
    server.add("/feed", Reply(body=feedgen.rss20([feedgen.item(1, server.base)])))
    server.add("/page", Reply(body=b"<html><ul><li><a href='/a/1'>One</a></li></ul></html>", content_type="text/html"))
    port = server.httpd.server_address[1]
    by_name, by_number = f"http://localhost:{port}/feed", f"http://2130706433:{port}/feed"  # 2130706433 = 127.0.0.1
    cat = catalog(
        source("feed", server.url("/feed")),
        source("listing", server.url("/page"), kind="listing", options={"item_selector": "li", "link_selector": "a"}),
        source("name", by_name),
        source("number", by_number),
    )
    db = Database(sqlite_url)
    run(db, fast_settings(tmp_path, allow_networks=[]), cat)
    assert _last_error(db, "feed") == refused(server.url("/feed"), "127.0.0.1 is a loopback address")
    assert _last_error(db, "listing") == refused(server.url("/page"), "127.0.0.1 is a loopback address")
    # Names are checked on the address they resolve to, so neither a name nor another spelling gets through.
    assert _last_error(db, "name") == refused(by_name, "localhost resolves to 127.0.0.1, a loopback address")
    assert _last_error(db, "number") == refused(by_number, "2130706433 resolves to 127.0.0.1, a loopback address")
    assert server.log == []  # not even robots.txt for the listing page
    with db.session() as session:
        assert session.query(Item).count() == 0
        assert {f.error for f in session.query(Fetch)} == {
            _last_error(db, s) for s in ("feed", "listing", "name", "number")
        }
    # An exact host name in allow_networks lets that name through, whatever it resolves to.
    run(db, fast_settings(tmp_path, allow_networks=["localhost"]), cat, wanted=["name", "feed"])
    assert len(server.hits("/feed")) == 1
    with db.session() as session:
        assert [i.source_id for i in session.query(Item)] == ["name"]
        latest = {f.source_id: f for f in session.query(Fetch).order_by(Fetch.id)}
    assert latest["name"].outcome == "ok" and latest["name"].error is None
    assert latest["feed"].error == refused(server.url("/feed"), "127.0.0.1 is a loopback address")


def test_allowing_127_0_0_1_still_refuses_links_redirects_and_children_on_127_0_0_2(
    tmp_path: Path, server: TestServer, other: TestServer
) -> None:
    metadata = other.url("/latest/meta-data/iam/security-credentials/role.html")
    other.add(metadata.removeprefix(other.base), _page("Credentials", SECRET))
    other.add("/feed", Reply(body=feedgen.rss20([feedgen.item(9, other.base)])))
    other.add("/sitemap.xml", Reply(body=_urlset(other.url("/articles/5.html")), content_type="application/xml"))
    local = server.url("/articles/1.html")
    server.add("/articles/1.html", _page("Arrests in Sonora", "Police said the men were armed."))
    server.add("/feed", Reply(body=feedgen.rss20([feedgen.item(1, server.base), feedgen.item(2, "x", link=metadata)])))
    server.add("/moved", Reply(status=302, headers={"Location": other.url("/feed")}))
    server.add("/index.xml", Reply(body=_index(other.url("/sitemap.xml")), content_type="application/xml"))
    port = other.httpd.server_address[1]
    numeric = f"http://2130706434:{port}/feed"  # 127.0.0.2 spelled as one number: only the resolver sees it
    cat = catalog(
        source("links", server.url("/feed"), fulltext=True),
        source("moved", server.url("/moved")),
        source("index", server.url("/index.xml"), kind="sitemap"),
        source("direct", other.url("/feed")),
        source("numeric", numeric),
    )
    db = Database(f"sqlite:///{tmp_path / 'refused.sqlite'}")
    lines = {line.source_id: line for line in run(db, fast_settings(tmp_path), cat).lines}
    assert other.log == []  # nothing reached 127.0.0.2
    loopback = "127.0.0.2 is a loopback address"
    with db.session() as session:
        items = {i.url: i for i in session.query(Item).filter(Item.source_id == "links")}
        assert set(items) == {local, metadata}  # the page's refusal costs the feed none of its items
        assert items[local].fulltext_state == "done" and "armed" in items[local].text
        assert items[metadata].fulltext_error == refused(metadata, loopback)
        assert items[metadata].fulltext_state == "pending" and SECRET not in items[metadata].text
    assert lines["links"].outcome == "ok" and _last_error(db, "links") is None
    assert _last_error(db, "moved") == refused(other.url("/feed"), loopback, via=server.url("/moved"))
    assert _last_error(db, "index") == refused(other.url("/sitemap.xml"), loopback)
    assert _last_error(db, "direct") == refused(other.url("/feed"), loopback)
    assert _last_error(db, "numeric") == refused(numeric, "2130706434 resolves to 127.0.0.2, a loopback address")

    # The same crawl with 127.0.0.2 allowed too: the server answers, and without the guard the credentials
    # page would have been stored as the item's text (what happened before the guard existed).
    db2 = Database(f"sqlite:///{tmp_path / 'allowed.sqlite'}")
    run(db2, fast_settings(tmp_path, allow_networks=["127.0.0.1/32", "127.0.0.2/32"]), cat)
    with db2.session() as session:
        leaked = session.query(Item).filter(Item.url == metadata).one()
        assert SECRET in leaked.text and leaked.fulltext_state == "done"
        fetches = {(f.source_id, f.url): (f.outcome, f.error) for f in session.query(Fetch)}
    assert set(fetches.values()) == {("ok", None)} and (("index", other.url("/sitemap.xml")) in fetches)
    assert {sid for sid, _ in fetches} == {"links", "moved", "index", "direct", "numeric"}
    assert other.hits(metadata.removeprefix(other.base)) and other.hits("/sitemap.xml")


def test_a_redirect_to_127_0_0_1_is_refused_when_only_127_0_0_2_is_allowed(
    tmp_path: Path, sqlite_url: str, server: TestServer, other: TestServer
) -> None:
    server.add("/feed", Reply(body=feedgen.rss20([feedgen.item(1, server.base)])))
    other.add("/feed", Reply(status=301, headers={"Location": server.url("/feed")}))
    db = Database(sqlite_url)
    run(db, fast_settings(tmp_path, allow_networks=["127.0.0.2"]), catalog(source("public", other.url("/feed"))))
    assert other.hits("/feed") and server.log == []
    reason = "127.0.0.1 is a loopback address"
    assert _last_error(db, "public") == refused(server.url("/feed"), reason, via=other.url("/feed"))


def test_robots_txt_redirected_to_a_refused_address_is_not_fetched(
    tmp_path: Path, sqlite_url: str, server: TestServer, other: TestServer
) -> None:
    server.add("/robots.txt", Reply(status=302, headers={"Location": other.url("/robots.txt")}))
    listing = b"<html><ul><li><a href='/a/1'>Cartel leader detained in Sinaloa</a></li></ul></html>"
    server.add("/page", Reply(body=listing, content_type="text/html"))
    other.add("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /\n", content_type="text/plain"))
    db = Database(sqlite_url)
    options = {"item_selector": "li", "link_selector": "a"}
    cat = catalog(source("listing", server.url("/page"), kind="listing", options=options))
    outcome = run(db, fast_settings(tmp_path), cat)
    assert other.log == [] and server.hits("/robots.txt") and server.hits("/page")
    # An unreadable robots.txt allows the page (Scrapy's rule); the refused hop was never connected to.
    assert outcome.lines[0].outcome == "ok" and outcome.lines[0].new == 1


def test_probes_and_discovery_refuse_too(tmp_path: Path, server: TestServer, other: TestServer) -> None:
    other.add("/feed", Reply(body=feedgen.rss20([feedgen.item(1, other.base)])))
    server.add("/hop", Reply(status=302, headers={"Location": other.url("/feed")}))
    head = f'<link rel="alternate" type="application/rss+xml" href="{other.url("/feed")}">'
    server.add("/", Reply(body=f"<html><head>{head}</head><body>News</body></html>".encode(), content_type="text/html"))
    settings = fast_settings(tmp_path)
    mapped = f"http://[::ffff:127.0.0.2]:{other.httpd.server_address[1]}/feed"
    urls = [other.url("/feed"), server.url("/hop"), mapped, "file:///etc/passwd"]
    direct, hop, ipv6, local_file = probe(urls, settings)
    assert direct.error == refused(other.url("/feed"), "127.0.0.2 is a loopback address") and not direct.ok
    assert hop.error == refused(other.url("/feed"), "127.0.0.2 is a loopback address", via=server.url("/hop"))
    assert ipv6.error == refused(mapped, "::ffff:7f00:2 is a loopback address (127.0.0.2 in IPv6 form)")
    assert local_file.error == "fetch: refused file:///etc/passwd: only http and https URLs are fetched, not file:"
    with pytest.raises(ParseError) as info:
        discover(server.url("/"), fetcher(settings))
    assert refused(other.url("/feed"), "127.0.0.2 is a loopback address").removeprefix("fetch: ") in str(info.value)
    assert other.log == []


def _index(child: str) -> bytes:
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    return (
        '<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{child}</loc><lastmod>{today}</lastmod></sitemap></sitemapindex>"
    ).encode()


def _urlset(url: str) -> bytes:
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    return (
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{url}</loc><lastmod>{today}</lastmod></url></urlset>"
    ).encode()


def test_a_proxy_in_the_environment_is_not_used_so_it_cannot_resolve_names_past_the_guard(
    tmp_path: Path, sqlite_url: str, server: TestServer, other: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The proxy (on the allowed 127.0.0.1) would be handed the whole URL and resolve its host itself.
    other.add("/feed", Reply(body=feedgen.rss20([feedgen.item(1, other.base)])))
    port = other.httpd.server_address[1]
    by_number = f"http://2130706434:{port}/feed"  # 2130706434 = 127.0.0.2, a name to the resolver
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, server.base)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    db = Database(sqlite_url)
    run(db, fast_settings(tmp_path, allow_networks=["127.0.0.1/32"]), catalog(source("number", by_number)))
    assert _last_error(db, "number") == refused(by_number, "2130706434 resolves to 127.0.0.2, a loopback address")
    assert server.log == [] and other.log == []
    with db.session() as session:
        assert session.query(Item).count() == 0
