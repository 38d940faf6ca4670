"""Real crawls of a local server: every feed format, full text, conditional GET, sitemaps and listings."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from aggregator.models import Fetch, Item, Sighting, Source
from aggregator.store.database import Database
from tests import feedgen
from tests.crawling import catalog, fast_settings, lines_by_source, run, source
from tests.httpserver import Reply, TestServer

PARAS = [
    "Soldiers and state police detained four men after a shootout near the highway to Caborca, officials said.",
    "The detainees were carrying rifles and radios, and investigators linked them to a faction fighting for "
    "control of smuggling routes toward the border with Arizona.",
    "Residents of the town said schools had closed for two days while patrols searched nearby ranches.",
]


def test_every_feed_format_and_full_text(tmp_path: Path, sqlite_url: str, server: TestServer) -> None:
    base = server.base
    rss_items = [feedgen.item(n, base) for n in range(1, 4)]
    for it in rss_items:
        server.add(
            it["link"].removeprefix(base),
            Reply(body=feedgen.article_page(it["title"], PARAS), content_type="text/html; charset=utf-8"),
        )
    server.add("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"))
    server.add("/rss20", Reply(body=feedgen.rss20(rss_items), etag=True))
    server.add("/rss091", Reply(body=feedgen.rss091([feedgen.item(n, base + "/o") for n in range(10, 12)])))
    server.add(
        "/rdf",
        Reply(
            body=feedgen.rdf([feedgen.item(n, base + "/r") for n in range(20, 22)]), content_type="application/rdf+xml"
        ),
    )
    server.add(
        "/atom",
        Reply(
            body=feedgen.atom([feedgen.item(n, base + "/a") for n in range(30, 33)]),
            content_type="application/atom+xml",
        ),
    )
    server.add(
        "/json",
        Reply(
            body=feedgen.jsonfeed([feedgen.item(n, base + "/j") for n in range(40, 42)]),
            content_type="application/feed+json",
        ),
    )
    latin = [feedgen.item(50, base + "/l", title="Detención en Cajeme: señalan a célula delictiva")]
    server.add(
        "/latin1",
        Reply(body=feedgen.rss20(latin, encoding="iso-8859-1"), content_type="application/rss+xml; charset=iso-8859-1"),
    )
    cat = catalog(
        source("rss20", server.url("/rss20"), fulltext=True),
        source("rss091", server.url("/rss091")),
        source("rdf", server.url("/rdf")),
        source("atom", server.url("/atom"), language="es"),
        source("json", server.url("/json")),
        source("latin1", server.url("/latin1"), language="es"),
    )
    db = Database(sqlite_url)
    settings = fast_settings(tmp_path)
    lines = lines_by_source(run(db, settings, cat))
    assert {sid: line.new for sid, line in lines.items()} == {
        "rss20": 3,
        "rss091": 2,
        "rdf": 2,
        "atom": 3,
        "json": 2,
        "latin1": 1,
    }
    assert all(line.outcome == "ok" for line in lines.values())
    with db.session() as s:
        full = s.scalars(select(Item).where(Item.source_id == "rss20")).all()
        assert all(i.fulltext_state == "done" and "Caborca" in i.text for i in full)
        assert all("Subscribe to our newsletter" not in i.text for i in full)
        assert all(i.authors == "Ana Reyes" for i in full)
        latin_item = s.scalars(select(Item).where(Item.source_id == "latin1")).one()
        assert latin_item.title == "Detención en Cajeme: señalan a célula delictiva"
        assert latin_item.language == "es"
        atom_items = s.scalars(select(Item).where(Item.source_id == "atom")).all()
        # The feed says es, its items are English text: each item's language is its text's (#12).
        assert {i.language for i in atom_items} == {"en"} and all(i.authors == "Redacción" for i in atom_items)
        assert all(i.published_at is not None and i.published_at.tzinfo is not None for i in atom_items)

    # Second crawl: the ETag feed answers 304, the others return the same bytes: nothing is parsed or stored.
    before = len(server.hits("/rss20"))
    lines = lines_by_source(run(db, settings, cat, wanted=[s.id for s in cat.sources]))
    assert lines["rss20"].outcome == "not_modified" and lines["rss20"].http_status == 304
    assert server.hits("/rss20")[before].headers.get("if-none-match")
    assert all(lines[sid].outcome == "unchanged" for sid in ("rss091", "rdf", "atom", "json", "latin1"))
    assert sum(line.new + line.updated for line in lines.values()) == 0
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Item)) == 13
        # Article pages were fetched once, not again on the second crawl.
        assert len(server.hits("/articles/1.html")) == 1
    db.close()


def test_sitemap_listing_and_cross_source_dedupe(tmp_path: Path, sqlite_url: str, server: TestServer) -> None:
    base = server.base
    pages = {f"/news/{n}.html": feedgen.article_page(f"Report {n} on border tunnels", PARAS) for n in range(3)}
    for path, body in pages.items():
        server.add(path, Reply(body=body, content_type="text/html"))
    server.add("/private/secret.html", Reply(body=feedgen.article_page("Private", PARAS), content_type="text/html"))
    server.add("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"))
    when = feedgen.NOW.isoformat()
    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        + "".join(
            f"<url><loc>{base}/news/{n}.html</loc><news:news><news:publication><news:name>T</news:name>"
            f"<news:language>es</news:language></news:publication><news:publication_date>{when}"
            f"</news:publication_date><news:title>Nota {n}</news:title></news:news></url>"
            for n in range(3)
        )
        + f"<url><loc>{base}/sports/match.html</loc><lastmod>{when}</lastmod></url></urlset>"
    )
    server.add("/sitemap.xml", Reply(body=sitemap.encode(), content_type="application/xml"))
    listing = (
        "<html><body>"
        + "".join(
            f'<article class="post"><h2><a href="/news/{n}.html?utm_source=list">Report {n}</a></h2>'
            f'<time datetime="{when}">today</time></article>'
            for n in range(2)
        )
        + '<article class="post"><h2><a href="/private/secret.html">Secret</a></h2></article></body></html>'
    )
    server.add("/list/", Reply(body=listing.encode(), content_type="text/html"))
    cat = catalog(
        source(
            "map",
            server.url("/sitemap.xml"),
            kind="sitemap",
            language="es",
            fulltext=True,
            options={"include": ["/news/"]},
        ),
        source(
            "list",
            server.url("/list/"),
            kind="listing",
            fulltext=True,
            options={"item_selector": "article.post", "link_selector": "h2 a", "date_selector": "time"},
        ),
    )
    db = Database(sqlite_url)
    lines = lines_by_source(run(db, fast_settings(tmp_path), cat))
    assert lines["map"].new == 3
    assert lines["list"].new + lines["list"].duplicates == 3
    with db.session() as s:
        items = s.scalars(select(Item)).all()
        news = [i for i in items if "/news/" in i.url]
        assert len(news) == 3  # the listing's links to the same pages are not stored twice
        assert all(i.text and "Caborca" in i.text for i in news)
        assert s.scalar(select(func.count()).select_from(Sighting).where(Sighting.source_id == "list")) == 3
        secret = s.scalars(select(Item).where(Item.url.like("%/private/%"))).one()
        assert secret.fulltext_state == "pending" and "robots.txt" in (secret.fulltext_error or "")
        assert not server.hits("/private/secret.html")
        assert not any("sports" in i.url for i in items)
    db.close()


def test_listing_whose_selector_stops_matching_is_flagged(tmp_path: Path, sqlite_url: str, server: TestServer) -> None:
    server.add(
        "/list/",
        Reply(body=b"<html><body><div class='new-layout'>nothing</div></body></html>", content_type="text/html"),
    )
    cat = catalog(source("list", server.url("/list/"), kind="listing", options={"item_selector": "article.post"}))
    db = Database(sqlite_url)
    lines = lines_by_source(run(db, fast_settings(tmp_path), cat))
    assert lines["list"].outcome == "error" and "matched nothing" in (lines["list"].error or "")
    with db.session() as s:
        src = s.get(Source, "list")
        assert src is not None and src.error_count == 1
        assert s.scalar(select(func.count()).select_from(Fetch)) == 1
    db.close()


def test_site_spider_and_a_broken_spider_path(tmp_path: Path, sqlite_url: str, server: TestServer) -> None:
    server.add(
        "/custom",
        Reply(body=b'<ul><li data-url="/a/1">Uno</li><li data-url="/a/2">Dos</li></ul>', content_type="text/html"),
    )
    cat = catalog(
        source(
            "custom",
            server.url("/custom"),
            kind="spider",
            language="es",
            options={"spider": "tests.sitespider:DataListSpider"},
        ),
        source("nospider", server.url("/custom"), kind="spider", options={"spider": "tests.nowhere:Nothing"}),
    )
    db = Database(sqlite_url)
    lines = lines_by_source(run(db, fast_settings(tmp_path), cat))
    assert lines["custom"].outcome == "ok" and lines["custom"].new == 2
    assert lines["nospider"].outcome == "error" and "cannot load 'tests.nowhere:Nothing'" in (
        lines["nospider"].error or ""
    )
    with db.session() as s:
        titles = sorted(s.scalars(select(Item.title).where(Item.source_id == "custom")))
        assert titles == ["Dos", "Uno"]
    db.close()


def test_crawl_into_postgresql(tmp_path: Path, postgres_url: str, server: TestServer) -> None:
    """The whole crawl, dedupe across sources included, on PostgreSQL."""
    base = server.base
    shared = [feedgen.item(n, base) for n in range(3)]
    server.add("/one", Reply(body=feedgen.rss20(shared), etag=True))
    server.add("/two", Reply(body=feedgen.atom([dict(it, guid=f"urn:two:{n}") for n, it in enumerate(shared)])))
    cat = catalog(source("one", server.url("/one")), source("two", server.url("/two"), language="es"))
    db = Database(postgres_url)
    settings = fast_settings(tmp_path)
    lines = lines_by_source(run(db, settings, cat))
    assert lines["one"].new + lines["two"].new == 3
    assert lines["one"].duplicates + lines["two"].duplicates == 3
    again = lines_by_source(run(db, settings, cat, wanted=["one", "two"]))
    assert again["one"].outcome == "not_modified" and again["two"].outcome == "unchanged"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Item)) == 3
        assert s.scalar(select(func.count()).select_from(Sighting)) == 6
    db.close()
