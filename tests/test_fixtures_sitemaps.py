"""parse_sitemap on the real and sample sitemaps in /work/shared/fixtures/sitemaps."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from aggregator.errors import ParseError
from aggregator.parse.sitemaps import SitemapResult, parse_sitemap
from tests.shared_fixtures import fixtures_root

ROOT = fixtures_root()
if ROOT is None or not (ROOT / "sitemaps").is_dir():
    pytest.skip("shared fixtures/sitemaps not found (set AGGREGATOR_SHARED_FIXTURES)", allow_module_level=True)
assert ROOT is not None
SITEMAPS = ROOT / "sitemaps"
ADVERTOOLS = SITEMAPS / "advertools"
TRAFILATURA = SITEMAPS / "trafilatura"
NOW = datetime(2030, 1, 1, tzinfo=UTC)
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"
ALL_FILES = sorted(p for p in SITEMAPS.rglob("*") if p.is_file() and not p.name.endswith((".md", ".txt")))


def _parse(
    body: bytes,
    *,
    now: datetime = NOW,
    max_age_days: float = 100000,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    max_items: int = 200,
) -> SitemapResult:
    return parse_sitemap(
        body,
        source_id="fixture",
        url="https://example.com/sitemap.xml",
        now=now,
        max_age_days=max_age_days,
        include=include,
        exclude=exclude,
        max_items=max_items,
    )


def _tree(body: bytes) -> etree._Element:
    """The fixture read independently of the code under test (plain lxml, namespace-aware)."""
    return etree.fromstring(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)


def _locs(body: bytes, parent: str = "url") -> list[str]:
    return [(loc.text or "").strip() for loc in _tree(body).iterfind(f"{SM}{parent}/{SM}loc")]


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).astimezone(UTC)


def test_news_sitemap_titles_dates_and_language() -> None:
    body = (ADVERTOOLS / "news_sitemap.xml").read_bytes()
    expected = {}
    for url in _tree(body).iterfind(f"{SM}url"):
        news = url.find(f"{NEWS}news")
        assert news is not None
        title, date = news.findtext(f"{NEWS}title"), news.findtext(f"{NEWS}publication_date")
        assert title and date
        expected[(url.findtext(f"{SM}loc") or "").strip()] = (title.strip(), _iso(date))
    assert len(expected) == 6
    result = _parse(body)
    assert result.skipped == 0 and not result.children
    assert {e.url: (e.title, e.published_at) for e in result.entries} == expected
    for entry in result.entries:
        assert entry.guid == entry.url and entry.url == entry.url.strip()
        assert entry.language == "en"
        assert entry.published_at is not None and entry.published_at.utcoffset() == timedelta(0)
    dates = [e.published_at for e in result.entries if e.published_at is not None]
    assert dates == sorted(dates, reverse=True), "entries should come newest first"


def test_news_sitemap_age_cutoff_and_filters() -> None:
    body = (ADVERTOOLS / "news_sitemap.xml").read_bytes()
    dates = sorted(_iso(d.text or "") for d in _tree(body).iter(f"{NEWS}publication_date"))
    now = dates[-1] + timedelta(days=1)
    recent = [d for d in dates if d >= now - timedelta(days=4)]
    assert 0 < len(recent) < len(dates), "fixture dates no longer span the cutoff"
    result = _parse(body, now=now, max_age_days=4)
    assert len(result.entries) == len(recent)
    assert result.skipped == len(dates) - len(recent)
    interactive = [loc for loc in _locs(body) if "/interactive/" in loc]
    assert {e.url for e in _parse(body, include=["/interactive/"]).entries} == set(interactive)
    assert len(_parse(body, exclude=["/interactive/"]).entries) == len(dates) - len(interactive)
    assert len(_parse(body, max_items=2).entries) == 2


@pytest.mark.parametrize("name", ["advertools/sitemap_index.xml", "trafilatura/sitemap2.xml"])
def test_sitemap_index_children(name: str) -> None:
    body = (SITEMAPS / name).read_bytes()
    result = _parse(body)
    assert not result.entries
    assert [url for url, _ in result.children] == _locs(body, "sitemap")
    lastmods = [s.findtext(f"{SM}lastmod") for s in _tree(body).iterfind(f"{SM}sitemap")]
    for (_, when), lastmod in zip(result.children, lastmods, strict=True):
        if lastmod is None:
            assert when is None
        else:
            assert when is not None and when.utcoffset() == timedelta(0)
            assert when.date().isoformat() == lastmod.strip()[:10]


@pytest.mark.parametrize(
    ("gzipped", "plain"),
    [
        ("advertools/zipped_sitemap.xml.gz", None),
        ("advertools/regular_sitemap.xml.gz", "advertools/regular_sitemap.xml"),
        ("trafilatura/sitemap.xml.gz", "trafilatura/sitemap.xml"),
    ],
)
def test_gzipped_and_fake_gz_sitemaps(gzipped: str, plain: str | None) -> None:
    body = (SITEMAPS / gzipped).read_bytes()
    result = _parse(body)
    locs = _locs(body)
    assert locs and sorted(e.url for e in result.entries) == sorted(locs)
    if plain is not None:
        assert _parse((SITEMAPS / plain).read_bytes()).entries == result.entries


def test_fake_gz_is_really_plain_and_real_gz_is_gzip() -> None:
    assert (ADVERTOOLS / "regular_sitemap.xml.gz").read_bytes()[:2] != b"\x1f\x8b"
    assert (ADVERTOOLS / "zipped_sitemap.xml.gz").read_bytes()[:2] == b"\x1f\x8b"


@pytest.mark.parametrize("name", ["advertools/zipped_sitemap.xml.gz", "trafilatura/sitemap.xml.gz"])
def test_truncated_gzip_is_a_parse_error(name: str) -> None:
    body = (SITEMAPS / name).read_bytes()
    for cut in (len(body) // 2, 12, 3):
        with pytest.raises(ParseError):
            _parse(body[:cut])


def test_malformed_sitemap_gives_parse_error_or_nothing() -> None:
    try:
        result = _parse((ADVERTOOLS / "error_sitemap.xml").read_bytes())
    except ParseError:
        return
    assert result.entries == [] and result.children == []


def test_robots_txt_is_not_a_sitemap() -> None:
    with pytest.raises(ParseError):
        _parse((ADVERTOOLS / "robots.txt").read_bytes())


def test_hreflang_alternates_are_not_extra_entries() -> None:
    body = (TRAFILATURA / "sitemap-hreflang.xml").read_bytes()
    alternates = _tree(body).findall(".//{http://www.w3.org/1999/xhtml}link")
    assert alternates, "fixture should carry xhtml:link alternates"
    result = _parse(body)
    assert [e.url for e in result.entries] == _locs(body)
    assert len(result.entries) == 3


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(SITEMAPS)))
def test_every_sitemap_fixture_parses_safely(path: Path) -> None:
    body = path.read_bytes()
    try:
        result = _parse(body)
    except ParseError:
        assert path.name == "error_sitemap.xml", f"{path.name}: rejected"
        return
    for entry in result.entries:
        assert entry.url.startswith(("http://", "https://")) and entry.guid == entry.url
        assert entry.published_at is None or entry.published_at.utcoffset() == timedelta(0)
    if path.name != "error_sitemap.xml" and (b"<urlset" in body or path.suffix == ".gz"):
        assert len(result.entries) == len(_locs(body)), path.name
