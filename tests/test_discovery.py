"""Feed discovery: advertised links in pages, candidate feed locations, and sniffing what a body is."""

from __future__ import annotations

import codecs
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from aggregator.crawl.discovery import FeedLink, candidate_urls, feed_links, sniff
from aggregator.errors import ConfigError
from aggregator.store.urls import feed_key, http_url
from tests.shared_fixtures import fixtures_root

ROOT = fixtures_root()
NO_FIXTURES = "../shared/fixtures not present (set AGGREGATOR_SHARED_FIXTURES)"
PAGE = "https://news.example.com/2024/05/story.html"


def _folder(relative: str) -> Path:
    if ROOT is None or not (ROOT / relative).is_dir():
        pytest.skip(NO_FIXTURES)
    return ROOT / relative


def _files(relative: str) -> list[Path]:
    folder = ROOT / relative if ROOT is not None else None
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".md")


def _param_files(relative: str) -> list[Any]:
    return _files(relative) or [pytest.param(None, marks=pytest.mark.skip(reason=NO_FIXTURES))]


# --- feed_links ---------------------------------------------------------------------------------------------


def test_advertised_links_of_every_feed_type_resolved_and_ranked() -> None:
    html = b"""<!doctype html><html><head>
    <link rel="stylesheet" type="text/css" href="/style.css">
    <link rel="ALTERNATE" type="application/rss+xml" title="Main &raquo; Feed" href="/feed/">
    <link rel="alternate nofollow" type="Application/Atom+XML; charset=utf-8" href="atom.xml" title=" Atom ">
    <link rel="feed alternate" type="application/feed+json" href="https://news.example.com/feed.json">
    <link rel="alternate" type="application/json" href="https://news.example.com/wp-json/wp/v2/posts/1">
    <link rel="alternate" type="application/json+oembed" href="https://news.example.com/wp-json/oembed/1.0/embed">
    <link rel="alternate" type="application/json" title="JSON Feed" href="/feeds/all.json">
    <link rel="alternate" hreflang="es" href="https://news.example.com/es/">
    <link rel="alternate" type="application/rss+xml" href="javascript:void(0)">
    <link rel="alternate" type="application/rss+xml" href="http://news.example.com/feed">
    </head><body><a href="/rss.xml">RSS</a></body></html>"""
    assert feed_links(html, PAGE) == [
        FeedLink("https://news.example.com/feed/", "Main » Feed", "application/rss+xml"),
        FeedLink("https://news.example.com/2024/05/atom.xml", "Atom", "application/atom+xml"),
        FeedLink("https://news.example.com/feed.json", None, "application/feed+json"),
        FeedLink("https://news.example.com/feeds/all.json", "JSON Feed", "application/json"),
        FeedLink("https://news.example.com/rss.xml", "RSS", None, advertised=False),
    ]


def test_base_href_is_honoured() -> None:
    html = (
        b'<html><head><base href="https://cdn.example.org/site/">'
        b'<link rel="alternate" type="application/rss+xml" href="feed.xml"></head></html>'
    )
    assert [link.url for link in feed_links(html, PAGE)] == ["https://cdn.example.org/site/feed.xml"]


def test_anchor_guesses_stay_on_the_site() -> None:
    html = b"""<html><body>
    <a href="https://www.facebook.com/dialog/feed?app_id=1&link=x">Share</a>
    <a href="https://feedly.com/i/subscription/feed/https://news.example.com/feed/">Follow in Feedly</a>
    <a href="https://other.example.net/rss">Someone else's feed</a>
    <a href="http://feeds.feedburner.com/ExampleNews">FeedBurner</a>
    <a href="https://www.news.example.com/rss/portada.xml">Portada</a>
    <a href="/section/politics">Politics</a>
    <a href="mailto:tips@example.com">rss</a>
    <a type="application/atom+xml" href="/updates">Updates</a>
    </body></html>"""
    links = feed_links(html, "https://news.example.com/")
    assert [(link.url, link.advertised) for link in links] == [
        ("https://news.example.com/updates", True),  # typed anchor ranks above guesses
        ("http://feeds.feedburner.com/ExampleNews", False),
        ("https://www.news.example.com/rss/portada.xml", False),
    ]


def test_links_are_deduplicated_by_feed_key() -> None:
    html = b"""<html><head>
    <link rel="alternate" type="application/rss+xml" href="https://www.example.com/feed/">
    <link rel="alternate" type="application/atom+xml" href="http://example.com/feed">
    <link rel="alternate" type="application/rss+xml" href="https://example.com/?feed=rss2">
    <link rel="alternate" type="application/rss+xml" href="https://example.com/?feed=comments-rss2">
    </head><body><a href="https://example.com/feed/">Feed</a></body></html>"""
    urls = [link.url for link in feed_links(html, "https://example.com/")]
    assert urls == [
        "https://www.example.com/feed/",
        "https://example.com/?feed=rss2",
        "https://example.com/?feed=comments-rss2",
    ]


@pytest.mark.parametrize("html", [b"", b"   ", b"\x00\x01\x02", b"<p>no links here</p>", b"<html><head><link"])
def test_pages_without_feeds(html: bytes) -> None:
    assert feed_links(html, PAGE) == []


def test_broken_urls_in_real_pages_do_not_raise() -> None:
    html = b'<a href="http://[ccpa-preferences]/feed">x</a><link rel="alternate" type="application/rss+xml" href="http://[::1">'
    assert feed_links(html, PAGE) == []


def test_http_url_and_feed_key() -> None:
    assert http_url("feed://example.com/rss") == "http://example.com/rss"
    assert http_url("feed:https://example.com/rss") == "https://example.com/rss"
    assert http_url(" /feed ", "https://example.com/a/") == "https://example.com/feed"
    for bad in ("javascript:alert(1)", "data:text/xml,<rss/>", "file:///etc/passwd", "ftp://example.com/f", "", None):
        assert http_url(bad) is None
    assert feed_key("https://www.example.com/feed/?utm_source=x") == feed_key("http://example.com/feed")
    assert feed_key("https://www.justice.gov/news/rss?type=press_release") != feed_key(
        "https://www.justice.gov/news/rss?type=speech"
    )


# Pages from the trafilatura evaluation corpus, with the URL each was captured from.
REAL_PAGES = {
    "stluciatimes.com-dea.html": (
        "https://stluciatimes.com/dea-officials-arrest-bvi-premier-on-drug-charges/",
        ["https://stluciatimes.com/feed/", "https://stluciatimes.com/comments/feed/"],
    ),
    "heise.de.lithium.html": (
        "https://www.heise.de/newsticker/meldung/Lithium-aus-dem-Schredder-4451133.html",
        ["https://www.heise.de/rss/heise-atom.xml", "https://www.heise.de/rss/heise.rdf"],
    ),
    "theatlantic.com.disasters.html": (
        "https://www.theatlantic.com/ideas/archive/2020/08/californias-disasters/615610/",
        ["https://www.theatlantic.com/feed/all/", "https://www.theatlantic.com/feed/best-of/"],
    ),
    "elpais.com.ciencia.html": (
        "https://elpais.com/elpais/2020/02/18/ciencia/1582045946_459487.html",
        ["https://elpais.com/rss/elpais/ciencia.xml"],
    ),
    # Declares its feeds as application/octet-stream: kept because the URLs look like feeds.
    "ultimasnoticias.com.ve-ucraina.html": (
        "https://ultimasnoticias.com.ve/noticias/mundo/ucrania/",
        ["https://ultimasnoticias.com.ve/feed/", "https://ultimasnoticias.com.ve/comments/feed/"],
    ),
    "cbsnews.com.carolina.html": ("https://www.cbsnews.com/news/carolina/", ["https://www.cbsnews.com/rss/"]),
}


@pytest.mark.parametrize("name", sorted(REAL_PAGES))
def test_real_article_pages(name: str) -> None:
    path = _folder("article-html/trafilatura/html") / name
    base, expected = REAL_PAGES[name]
    links = feed_links(path.read_bytes(), base)
    assert [link.url for link in links[: len(expected)]] == expected
    assert not any("wp-json" in link.url or "oembed" in link.url for link in links)
    if name == "ultimasnoticias.com.ve-ucraina.html":
        assert links[0].title == "Últimas Noticias » Feed"  # UTF-8 page without an early <meta charset>


def test_all_real_article_pages() -> None:
    folder = _folder("article-html/trafilatura")
    annotations = json.loads((folder / "annotations.json").read_text(encoding="utf-8"))
    found = 0
    for url, info in annotations.items():
        base = url if url.startswith("http") else "https://example.com/"
        links = feed_links((folder / "html" / info["file"]).read_bytes(), base)
        keys = [feed_key(link.url) for link in links]
        assert len(set(keys)) == len(keys) and None not in keys
        assert all(link.url.startswith(("http://", "https://")) for link in links)
        found += bool(links)
    assert found >= 40  # most news pages advertise a feed


# --- candidate_urls -------------------------------------------------------------------------------------------


def test_candidate_urls_for_a_site_root() -> None:
    urls = candidate_urls("https://Example.com")
    assert urls[:2] == ["https://example.com/feed", "https://example.com/feed/"]
    for path in ("/rss", "/rss.xml", "/atom.xml", "/index.xml", "/feeds/posts/default", "/?feed=rss2"):
        assert "https://example.com" + path in urls
    sitemaps = [u for u in urls if "sitemap" in u]
    assert sitemaps == urls[-len(sitemaps) :]  # sitemaps last, news sitemaps first among them
    assert sitemaps[:2] == ["https://example.com/news-sitemap.xml", "https://example.com/sitemap_news.xml"]
    assert sitemaps[-1] == "https://example.com/sitemap.xml"
    assert len(urls) == len(set(urls))


def test_candidate_urls_for_a_page_in_a_subdirectory() -> None:
    urls = candidate_urls("http://example.com/blog/post.html?id=3#top")
    assert urls[0] == "http://example.com/blog/feed"
    assert urls.index("http://example.com/blog/?feed=rss2") < urls.index("http://example.com/feed")
    assert "http://example.com/blog/feeds/posts/default" not in urls
    assert all("id=3" not in u and "#" not in u for u in urls)


@pytest.mark.parametrize("bad", ["example.com", "ftp://example.com/", "javascript:alert(1)", ""])
def test_candidate_urls_refuses_non_http(bad: str) -> None:
    with pytest.raises(ConfigError):
        candidate_urls(bad)


# --- sniff ----------------------------------------------------------------------------------------------------

RSS = b'<rss version="2.0"><channel><title>t</title></channel></rss>'


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (RSS, None, "feed"),
        (b'<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom"></feed>', None, "feed"),
        (
            b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">'
            b"<channel/></rdf:RDF>",
            None,
            "feed",
        ),
        (b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description/></rdf:RDF>', None, None),
        (b"\xef\xbb\xbf" + RSS, None, "feed"),
        (codecs.BOM_UTF16_LE + '<?xml version="1.0" encoding="utf-16"?><rss/>'.encode("utf-16-le"), None, "feed"),
        ('<?xml version="1.0" encoding="utf-16"?><feed/>'.encode("utf-16-be"), None, "feed"),
        (
            b"\n\n   \t<?xml version='1.0'?>\n<!-- generator: x -->\n<?xml-stylesheet href='s.xsl'?>\n" + RSS,
            None,
            "feed",
        ),
        (
            b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://x/rss-0.91.dtd">' + RSS,
            None,
            "feed",
        ),
        (b'<!DOCTYPE rss [<!ENTITY a "<b>">]>' + RSS, None, "feed"),
        (b"<b>Warning</b>: Cannot modify header in /var/www/x.php<br />\n<?xml version='1.0'?>" + RSS, None, "feed"),
        (RSS, "text/html; charset=utf-8", "feed"),  # the body decides
        (b'{"version": "https:\\/\\/jsonfeed.org\\/version\\/1", "items": []}', "application/json", "feed"),
        (b'\xef\xbb\xbf  {"title": "x", "version": "https://jsonfeed.org/version/1.1"}', None, "feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', None, "feed"),  # truncated
        (b'{"posts": []}', "application/json", None),
        (b"[1, 2]", None, None),
        (b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"/>', None, "sitemap"),
        (b"<sitemapindex><sitemap><loc>https://x/s.xml</loc></sitemap></sitemapindex>", None, "sitemap"),
        (gzip.compress(b'<?xml version="1.0"?><urlset/>', mtime=0), "application/x-gzip", "sitemap"),
        (b"<!DOCTYPE html><html><head><title>x</title></head></html>", None, "html"),
        (b"<!-- hi -->\n<HTML lang=en>", "text/xml", "html"),
        (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
            b'"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n<html xmlns="http://www.w3.org/1999/xhtml"></html>',
            "application/xml",
            "html",
        ),
        (b"<div>fragment</div>", None, "html"),
        (b"<section>unknown start</section>", "text/html", "html"),
        (b"<section>unknown start</section>", None, None),
        (b'<opml version="2.0"><body/></opml>', "text/xml", None),
        (b"", "text/html", None),
        (b"   \n", None, None),
        (b"plain text", "text/plain", None),
        (b"plain text", "text/html", None),
        (b"\x1f\x8bnot really gzip", None, None),
    ],  # fmt: skip
)
def test_sniff(body: bytes, content_type: str | None, expected: str | None) -> None:
    assert sniff(body, content_type) == expected


@pytest.mark.parametrize("path", _param_files("real-feeds"), ids=lambda p: p.name if isinstance(p, Path) else "absent")
def test_sniff_real_feeds(path: Path) -> None:
    assert sniff(path.read_bytes(), None) == "feed"
    assert sniff(path.read_bytes(), "text/html") == "feed"


def test_sniff_real_pages_and_sitemaps() -> None:
    pages = sorted((_folder("article-html/trafilatura") / "html").glob("*.html"))
    assert pages and all(sniff(p.read_bytes(), None) == "html" for p in pages)
    fundus = sorted(_folder("article-html/fundus").rglob("*.html.gz"))[:20]
    assert all(sniff(gzip.decompress(p.read_bytes()), "text/html") == "html" for p in fundus)
    sitemaps = [p for p in _folder("sitemaps").rglob("*") if p.suffix in (".xml", ".gz")]
    assert sitemaps and all(sniff(p.read_bytes(), None) == "sitemap" for p in sitemaps)
