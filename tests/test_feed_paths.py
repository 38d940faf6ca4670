"""The lxml fast path and feedparser must agree: same entries, same fields, on real and generated feeds."""

from __future__ import annotations

import warnings

import pytest

from aggregator.parse.dates import parse_date
from aggregator.parse.feed_fast import parse_fast
from aggregator.parse.feeds import parse_feed
from tests import feedgen
from tests.shared_fixtures import fixtures_root

FIELDS = ("url", "guid", "title", "published_at", "updated_at", "language", "authors", "summary_html", "text")
REAL = fixtures_root()
REAL_FEEDS = sorted(p for p in (REAL / "real-feeds").glob("*") if p.suffix in (".xml", ".rdf")) if REAL else []
URL = "https://example.com/feed"


def _both(body: bytes, content_type: str = "") -> tuple[list, list, bool]:
    headers = {"content-type": content_type} if content_type else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        slow = parse_feed(body, source_id="s", url=URL, headers=headers, fast=False).entries
    fast_taken = parse_fast(body, URL, content_type) is not None
    fast = parse_feed(body, source_id="s", url=URL, headers=headers).entries
    return slow, fast, fast_taken


def _assert_same(slow: list, fast: list, label: str) -> None:
    assert len(slow) == len(fast), label
    for a, b in zip(slow, fast, strict=True):
        for name in FIELDS:
            assert getattr(a, name) == getattr(b, name), f"{label}: {name} differs for {a.guid}"


@pytest.mark.skipif(not REAL_FEEDS, reason="../shared/fixtures/real-feeds not present")
def test_fast_path_agrees_with_feedparser_on_real_feeds() -> None:
    taken = 0
    for path in REAL_FEEDS:
        slow, fast, fast_taken = _both(path.read_bytes())
        taken += fast_taken
        _assert_same(slow, fast, path.name)
    # Most real, well-formed feeds take the fast path; the rest (broken XML, other encodings, xml:base) do not.
    assert taken >= len(REAL_FEEDS) * 0.6, taken


def test_fast_path_agrees_on_generated_formats() -> None:
    base = "https://news.example"
    items = [feedgen.item(n, base, content=f"<p>Full text {n} " + "word " * 300 + "</p>") for n in range(4)]
    for body in (feedgen.rss20(items), feedgen.rss091(items), feedgen.rdf(items), feedgen.atom(items)):
        slow, fast, fast_taken = _both(body)
        assert fast_taken
        _assert_same(slow, fast, body[:60].decode())


def test_unusual_documents_go_to_feedparser() -> None:
    latin = feedgen.rss20([feedgen.item(1, "https://x.example", title="Señal")], encoding="iso-8859-1")
    assert parse_fast(latin, URL) is None  # only UTF-8 takes the fast path
    utf8 = feedgen.rss20([feedgen.item(1, "https://x.example", title="Señal")])
    assert parse_fast(utf8, URL, "text/xml; charset=windows-1252") is None  # header and body disagree
    assert parse_fast(utf8, URL, "application/rss+xml; charset=UTF-8") is not None
    broken = feedgen.rss20([feedgen.item(1, "https://x.example")]).replace(b"</channel>", b"")
    assert parse_fast(broken, URL) is None
    doctype = b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x "y">]><rss version="2.0"><channel></channel></rss>'
    assert parse_fast(doctype, URL) is None
    xhtml = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id><title>t</title><content type="xhtml">'
        b'<div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div></content></entry></feed>'
    )
    assert parse_fast(xhtml, URL) is None
    assert parse_feed(xhtml, source_id="s", url=URL).entries[0].text == "x"


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("Seg, 24 Set 2018 19:42:40 -0300", "2018-09-24T22:42:40+00:00"),
        ("mié, 03 dic 2025 10:00:00 GMT", "2025-12-03T10:00:00+00:00"),
        ("Mar, 04 Mar 2025 10:00:00 +0100", "2025-03-04T09:00:00+00:00"),
        ("Tue, 10 Jun 2025 12:00:00 EST", "2025-06-10T17:00:00+00:00"),
        ("2025-03-04T10:00:00-06:00", "2025-03-04T16:00:00+00:00"),
        ("2022-09-03 09:37:11+03:00", "2022-09-03T06:37:11+00:00"),
    ],
)
def test_dates_in_many_forms(text: str, iso: str) -> None:
    parsed = parse_date(text)
    assert parsed is not None and parsed.isoformat() == iso


def test_unreadable_dates_are_none() -> None:
    assert parse_date("next Tuesday-ish") is None and parse_date("") is None
