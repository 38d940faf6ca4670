"""Maintaining sources.toml from the command line: add (with feed discovery), test, enable/disable, OPML in and out."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggregator.config.opml import parse_opml
from aggregator.config.sources import load_sources, source_id_for
from tests import feedgen
from tests.crawling import source
from tests.httpserver import Reply, TestServer
from tests.test_cli import agg

REPO = Path(__file__).resolve().parents[1]
ZONE = "America/Mexico_City"
TITLES = [
    "CJNG gunmen ambush state police convoy in Jalisco",
    "Border Patrol agents seize fentanyl at the Nogales port of entry",
    "Islamic State claims suicide bombing at a market",
    "City council approves new bus routes",
]
HEADER = "# Our outlets.\n# Keep this comment.\n\n"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory for the whole module, so the classifier is trained once."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def config(tmp_path: Path, data_dir: Path) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    shutil.copy(REPO / "config" / "topics.toml", directory / "topics.toml")
    (directory / "settings.toml").write_text(
        f'data_dir = "{data_dir}"\ntimezone = "{ZONE}"\n'
        '[crawl]\ndownload_delay = 0\nautothrottle = false\nretry_times = 0\ntimeout = "5s"\n'
        'allow_networks = ["127.0.0.1/32"]\n'
    )
    (directory / "sources.toml").write_text(HEADER + source("old", "https://www.borderreport.com/feed/"))
    return directory


def run(config: Path, *args: str, db: str | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    base = ["--config", str(config), "--db", db or f"sqlite:///{config.parent}/agg.sqlite"]
    if stdin is None:
        return agg(*base, *args)
    return subprocess.run(
        [sys.executable, "-m", "aggregator", *base, *args], input=stdin, capture_output=True, text=True, timeout=180
    )


def feed(server: TestServer, *, language: str = "en", title: str = "Frontera Report", count: int = 4) -> bytes:
    items = [feedgen.item(n, server.base, title=TITLES[n % len(TITLES)]) for n in range(count)]
    return feedgen.rss20(items, title=title, extra_channel=f"<language>{language}</language>")


def page(*head: str) -> Reply:
    return Reply(
        body=f"<html><head>{''.join(head)}</head><body><p>News</p></body></html>".encode(), content_type="text/html"
    )


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0, result.stdout
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: ") and "Traceback" not in result.stderr
    for needle in needles:
        assert needle in error, error


# add -------------------------------------------------------------------------------------------


def test_add_finds_the_feed_a_page_advertises(config: Path, server: TestServer) -> None:
    server.add("/feed/", Reply(body=feed(server, language="es-MX", title="Frontera Report")))
    server.add("/comments/feed/", Reply(body=feed(server, title="Comments")))
    server.add(
        "/",
        page(
            '<link rel="alternate" type="application/rss+xml" title="Feed" href="/feed/">',
            '<link rel="alternate" type="application/rss+xml" title="Comments" href="/comments/feed/">',
        ),
    )
    before = (config / "sources.toml").read_bytes()
    result = run(config, "sources", "add", server.url("/"), "--yes", "--topic-hint", "cartels", "--tier", "research")
    assert result.returncode == 0, result.stderr
    assert "found a feed at " + server.url("/feed/") in result.stdout
    assert "via a link on the page" in result.stdout
    preview = result.stdout.split("newest 4:")[1]
    assert TITLES[0] in preview and "cartels" in preview.split(TITLES[0])[1].splitlines()[0]
    first_date = feedgen.NOW.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M")
    assert f"published ({ZONE})" in preview and first_date in preview
    after = (config / "sources.toml").read_bytes()
    assert after.startswith(before) and len(after) > len(before)
    catalog = load_sources(config)
    assert not catalog.problems
    added = catalog.by_id()["frontera-report"]  # the host is an address: the id comes from the feed's title (#12)
    assert (added.kind.value, added.url, added.name) == ("feed", server.url("/feed/"), "Frontera Report")
    assert added.language == "es"  # the feed says es-MX
    assert added.tier.value == "research" and added.options == {"topic_hints": ["cartels"]}
    assert "added source 'frontera-report'" in result.stdout


def test_add_tries_common_feed_locations(config: Path, server: TestServer) -> None:
    server.add("/", page("<title>No feed advertised</title>"))
    server.add("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /\n", content_type="text/plain"))
    server.add("/feed", Reply(body=feed(server)))
    # robots.txt forbids the page, not the feed: feeds are for machines, as in a crawl.
    result = run(config, "sources", "add", server.url("/"), "--yes", "--id", "frontera", "--name", "Frontera")
    assert result.returncode == 0, result.stderr
    assert "via a common feed location" in result.stdout
    added = load_sources(config).by_id()["frontera"]
    assert (added.url, added.name, added.language) == (server.url("/feed"), "Frontera", "en")
    assert all(hit.path != "/" for hit in server.log) and server.hits("/feed")


def test_add_refuses_a_site_without_a_feed(config: Path, server: TestServer) -> None:
    server.add("/", page('<link rel="alternate" type="application/rss+xml" href="/gone.xml">'))
    server.add("/empty.xml", Reply(body=feedgen.rss20([])))
    before = (config / "sources.toml").read_bytes()
    result = run(config, "sources", "add", server.url("/"), "--yes")
    one_line_error(result, "add: parse: no feed found for " + server.url("/"), "1 advertised feed(s) failed", "404")
    assert "common feed and sitemap locations" in result.stderr
    empty = run(config, "sources", "add", server.url("/empty.xml"), "--yes")
    one_line_error(empty, "the feed has no entries")
    missing = run(config, "sources", "add", server.url("/nothing-here"), "--yes")
    one_line_error(missing, "fetch: HTTP 404 Not Found")
    assert (config / "sources.toml").read_bytes() == before


def test_add_refuses_duplicates_naming_the_source(config: Path, server: TestServer) -> None:
    (config / "sources.toml").write_text(HEADER + source("frontera", server.url("/feed/?utm_source=rss")))
    server.add("/feed/", Reply(body=feed(server)))
    server.add("/", page('<link rel="alternate" type="application/rss+xml" href="/feed/">'))
    before = (config / "sources.toml").read_bytes()
    same_feed = run(config, "sources", "add", server.url("/feed/"), "--yes")
    one_line_error(same_feed, "already configured as source 'frontera'")
    assert server.hits("/feed/") == []  # refused before any fetch
    discovered = run(config, "sources", "add", server.url("/"), "--yes", "--id", "other")
    one_line_error(discovered, server.url("/feed/") + " is already configured as source 'frontera'", "Test frontera")
    same_id = run(config, "sources", "add", "https://example.org/", "--yes", "--id", "frontera")
    one_line_error(same_id, "source id 'frontera' already exists", "Test frontera")
    assert (config / "sources.toml").read_bytes() == before


def test_add_asks_before_writing(config: Path, server: TestServer) -> None:
    server.add("/rss.xml", Reply(body=feed(server)))
    before = (config / "sources.toml").read_bytes()
    declined = run(config, "sources", "add", server.url("/rss.xml"), "--id", "frontera", stdin="n\n")
    assert declined.returncode == 0 and "append it to" in declined.stdout and "nothing written" in declined.stdout
    assert (config / "sources.toml").read_bytes() == before
    bad_id = run(config, "sources", "add", server.url("/rss.xml"), "--id", "Frontera News", "--yes")
    one_line_error(bad_id, "add: new source: field 'id': Value error, must be lowercase letters")
    assert (config / "sources.toml").read_bytes() == before
    accepted = run(config, "sources", "add", server.url("/rss.xml"), "--id", "frontera", stdin="y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert load_sources(config).by_id()["frontera"].url == server.url("/rss.xml")


def test_source_ids_come_from_the_host() -> None:
    assert source_id_for("https://www.borderreport.com/feed/") == "borderreport"
    assert source_id_for("https://es.insightcrime.org/feed/") == "insightcrime-es"
    assert source_id_for("https://feeds.elpais.com.mx/rss") == "elpais"
    assert source_id_for("https://www.borderreport.com/", ["borderreport", "borderreport-2"]) == "borderreport-3"
    assert source_id_for("http://127.0.0.1:8080/") == "127-0-0-1"
    assert source_id_for("http://127.0.0.1:8080/", title="Río Doce: Noticias") == "rio-doce-noticias"
    assert source_id_for("https://www.borderreport.com/", title="Border Report") == "borderreport"


# test ------------------------------------------------------------------------------------------


def _counts(db_path: Path) -> dict[str, int]:
    conn = sqlite3.connect(db_path)
    tables = ("items", "sightings", "sources", "fetches", "item_topics")
    counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    conn.close()
    return counts


def test_sources_test_shows_what_a_crawl_would_store_and_stores_nothing(
    config: Path, server: TestServer, tmp_path: Path
) -> None:
    state = {"items": 2}
    server.add("/feed", lambda _req: Reply(body=feed(server, count=state["items"])))
    (config / "sources.toml").write_text(source("frontera", server.url("/feed")) + source("gone", server.url("/gone")))
    db_path = tmp_path / "agg.sqlite"
    crawl = run(config, "crawl", "-s", "frontera")
    assert crawl.returncode == 0, crawl.stderr
    before = _counts(db_path)
    assert before["items"] == 2 and before["fetches"] >= 1
    state["items"] = 4
    result = run(config, "sources", "test", "frontera")
    assert result.returncode == 0, result.stderr
    assert f"frontera: GET {server.url('/feed')}: HTTP 200 in " in result.stdout and "rss20" in result.stdout
    assert "a crawl would find 4 entries: 2 new, 2 already stored from this source" in result.stdout
    assert all(title in result.stdout for title in TITLES) and "cartels" in result.stdout
    assert feedgen.NOW.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M") in result.stdout
    assert _counts(db_path) == before
    one_line_error(run(config, "sources", "test", "gone"), "test gone: fetch: HTTP 404 Not Found")
    one_line_error(run(config, "sources", "test", "nope"), "test: unknown source id 'nope'")
    assert _counts(db_path) == before


def test_sources_test_reads_sitemap_indexes_and_listing_pages(config: Path, server: TestServer) -> None:
    news = (
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url>'
        f"<loc>{server.url('/a/1.html')}</loc><news:news><news:publication><news:name>Norte</news:name>"
        "<news:language>es</news:language></news:publication>"
        f"<news:publication_date>{feedgen.NOW.isoformat()}</news:publication_date>"
        "<news:title>Detienen a operador financiero del Cártel del Golfo</news:title></news:news></url></urlset>"
    )
    index = (
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{server.url('/news.xml')}</loc></sitemap></sitemapindex>"
    )
    listing = '<html><body><ul class="new"><li><a href="/b/1">Narco history</a></li><li><a href="/b/2">Walls</a></li>'
    server.add("/sitemap.xml", Reply(body=index.encode(), content_type="application/xml"))
    server.add("/news.xml", Reply(body=news.encode(), content_type="application/xml"))
    server.add("/books", Reply(body=listing.encode() + b"</ul></body></html>", content_type="text/html; charset=utf-8"))
    (config / "sources.toml").write_text(
        source("norte", server.url("/sitemap.xml"), kind="sitemap", language="es")
        + source("press", server.url("/books"), kind="listing", options={"item_selector": "ul.new li"})
        + source("custom", server.url("/"), kind="spider", options={"spider": "aggregator.spiders.sites.x:Custom"})
    )
    sitemap = run(config, "sources", "test", "norte")
    assert sitemap.returncode == 0, sitemap.stderr
    assert "sitemap index" in sitemap.stdout and "a crawl would find 1 entries: 1 new" in sitemap.stdout
    assert "Detienen a operador financiero del Cártel del Golfo" in sitemap.stdout and "cartels" in sitemap.stdout
    page = run(config, "sources", "test", "press")
    assert page.returncode == 0, page.stderr
    assert "listing" in page.stdout and "a crawl would find 2 entries" in page.stdout and "Narco history" in page.stdout
    one_line_error(run(config, "sources", "test", "custom"), "test custom: a spider source runs its own code")


# enable / disable ------------------------------------------------------------------------------


def test_disable_and_enable_round_trip(config: Path) -> None:
    path = config / "sources.toml"
    original = path.read_text()
    disabled = run(config, "sources", "disable", "old")
    assert disabled.returncode == 0 and "source 'old': enabled -> disabled" in disabled.stdout
    assert load_sources(config).by_id()["old"].enabled is False
    text = path.read_text()
    assert text.startswith(HEADER) and text.replace("enabled = false\n", "") == original
    again = run(config, "sources", "disable", "old")
    assert again.returncode == 0 and "already disabled" in again.stdout and path.read_text() == text
    enabled = run(config, "sources", "enable", "old")
    assert enabled.returncode == 0 and "disabled -> enabled" in enabled.stdout
    assert load_sources(config).by_id()["old"].enabled is True
    assert path.read_text() == original.replace("fulltext = false\n", "fulltext = false\nenabled = true\n")
    one_line_error(run(config, "sources", "disable", "nope"), "no source with id 'nope'")


# OPML ------------------------------------------------------------------------------------------

OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Reporter's feeds</title></head>
  <body>
    <outline text="Mexico">
      <outline text="Cartels">
        <outline text="Ríodoce" type="rss" xmlUrl="https://riodoce.mx/feed/" htmlUrl="https://riodoce.mx/"
                 language="es-MX"/>
        <outline text="Zeta Tijuana" type="rss" xmlUrl="https://zetatijuana.com/feed/"/>
      </outline>
      <outline text="Zeta comments" type="rss" xmlUrl="https://zetatijuana.com/comments/feed/"/>
    </outline>
    <outline text="Broken, no feed URL" type="rss"/>
    <outline text="Border Report" type="rss" xmlUrl="https://www.borderreport.com/feed/?utm_source=opml"/>
  </body>
</opml>
"""


def test_import_opml_appends_new_feeds_with_folders_as_tags(config: Path, tmp_path: Path) -> None:
    opml = tmp_path / "reader.opml"
    opml.write_text(OPML, encoding="utf-8")
    path = config / "sources.toml"
    before = path.read_bytes()
    no_language = run(config, "sources", "import-opml", str(opml), "--dry-run")
    # No language in the OPML: the feed is added with language "auto" (each item's detected), not skipped (#12).
    assert "would add  zetatijuana  https://zetatijuana.com/feed/  [Mexico / Cartels]" in no_language.stdout
    assert "3 would be added, 1 already configured, 0 skipped" in no_language.stdout
    dry = run(config, "sources", "import-opml", str(opml), "--language", "es", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would add  zetatijuana-2  https://zetatijuana.com/comments/feed/  [Mexico]" in dry.stdout
    assert "(dry run: nothing written)" in dry.stdout and path.read_bytes() == before
    result = run(config, "sources", "import-opml", str(opml), "--language", "es", "--tier", "blog")
    assert result.returncode == 0, result.stderr
    assert (
        "skip  https://www.borderreport.com/feed/?utm_source=opml: already configured as source 'old'" in result.stdout
    )
    assert "'Broken, no feed URL' has no xmlUrl; skipped" in result.stderr
    assert (
        "4 feed(s) in reader.opml: 3 added, 1 already configured, 0 skipped, 1 problem(s) in the file" in result.stdout
    )
    after = path.read_bytes()
    assert after.startswith(before)
    catalog = load_sources(config)
    assert not catalog.problems
    by_id = catalog.by_id()
    assert set(by_id) == {"old", "riodoce", "zetatijuana", "zetatijuana-2"}
    assert by_id["riodoce"].tags == ("Mexico", "Cartels") and by_id["riodoce"].name == "Ríodoce"
    assert by_id["zetatijuana-2"].tags == ("Mexico",) and by_id["zetatijuana"].language == "es"
    assert {s.tier.value for s in catalog.sources if s.id != "old"} == {"blog"}
    again = run(config, "sources", "import-opml", str(opml), "--language", "es")
    assert "0 added, 4 already configured" in again.stdout and path.read_bytes() == after
    one_line_error(run(config, "sources", "import-opml", str(tmp_path / "missing.opml")), "cannot read")


def test_export_opml_parses_back(config: Path, tmp_path: Path) -> None:
    (config / "sources.toml").write_text(
        source("frontera", "https://frontera.example/feed/", language="es")
        + source("press", "https://press.example/books", kind="listing", options={"item_selector": "li"})
        + source("wire", "https://wire.example/rss.xml")
    )
    out = tmp_path / "sources.opml"
    result = run(config, "sources", "export-opml", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert (
        "exported 2 feed source(s)" in result.stderr and "1 sitemap/listing/spider source(s) left out" in result.stderr
    )
    parsed = parse_opml(out.read_bytes(), str(out))
    assert parsed.problems == []
    assert [(f.url, f.title, f.language, f.tags) for f in parsed.feeds] == [
        ("https://frontera.example/feed/", "Test frontera", "es", ("news",)),
        ("https://wire.example/rss.xml", "Test wire", "en", ("news",)),
    ]
    stdout = run(config, "sources", "export-opml")
    assert stdout.returncode == 0 and parse_opml(stdout.stdout.encode(), "stdout").feeds == parsed.feeds
