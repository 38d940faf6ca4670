"""Impossible and implausible dates cost one entry its date, never a feed, a digest, stats, search or a page."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.config.settings import Settings
from aggregator.digest import archive
from aggregator.digest.render import FORMATS, render
from aggregator.errors import DigestError
from aggregator.models import Item, Story
from aggregator.parse.dates import EARLIEST, parse_date
from aggregator.parse.feed_fast import parse_fast
from aggregator.parse.feeds import parse_feed
from aggregator.parse.listings import parse_listing
from aggregator.parse.sitemaps import parse_sitemap
from aggregator.search.hits import iter_matches, search
from aggregator.search.stats import BY, PER, volume
from aggregator.store.database import Database
from aggregator.stories.store import assign_stories
from aggregator.web import create_app
from tests.crawling import catalog, fast_settings, lines_by_source, run, source
from tests.digestdata import REPO, add_item, add_source, topics, utc
from tests.httpserver import Reply, TestServer
from tests.webserver import WebServer

NOW = datetime.now(UTC).replace(microsecond=0)
# Each names no real instant, or one outside the plausible window (before 1990, more than a day after the fetch).
BAD_RFC = {
    "30 February": "Sun, 30 Feb 2026 10:00:00 GMT",
    "year 10000": "Mon, 01 Jan 10000 00:00:00 GMT",
    "year 1": "Mon, 01 Jan 0001 00:00:00 GMT",
    "epoch": "Thu, 01 Jan 1970 00:00:00 +0000",
    "next year": (NOW + timedelta(days=365)).strftime("%a, %d %b %Y %H:%M:%S +0000"),
}
BAD_ISO = {
    "zeros": "0000-00-00T00:00:00Z",
    "before year 1 in UTC": "0001-01-01T00:00:00+01:00",
    "after 9999 in UTC": "9999-12-31T23:59:59-01:00",
    "30 February, ISO": "2026-02-30T10:00:00Z",
    "year 10000, ISO": "10000-01-01T00:00:00Z",
    "month 13": "2026-13-01",
}
GOOD_RFC = (NOW - timedelta(hours=3)).strftime("%a, %d %b %Y %H:%M:%S +0000")
GOOD_ISO = (NOW - timedelta(hours=3)).isoformat()


def _rss(dates: dict[str, str], good: int = 2) -> bytes:
    items = [(f"Bad date: {name}", text) for name, text in dates.items()]
    items += [(f"Good entry {n}", GOOD_RFC) for n in range(good)]
    body = "".join(
        f"<item><title>{title}</title><link>https://news.example/{n}</link><guid>https://news.example/{n}</guid>"
        f"<pubDate>{text}</pubDate><description>Cartel news number {n}.</description></item>"
        for n, (title, text) in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Dates</title>'
        f"<link>https://news.example/</link>{body}</channel></rss>"
    ).encode()


def _atom(dates: dict[str, str], good: int = 2) -> bytes:
    # The bad date as <published>, with a good <updated> on every other entry: that one then dates the entry.
    items = [(f"Bad date: {name}", text, GOOD_ISO if n % 2 else "") for n, (name, text) in enumerate(dates.items())]
    items += [(f"Good entry {n}", GOOD_ISO, "") for n in range(good)]
    body = "".join(
        f'<entry><id>urn:e:{n}</id><title>{title}</title><link href="https://atom.example/{n}"/>'
        f"<published>{published}</published>{f'<updated>{updated}</updated>' if updated else ''}"
        f"<summary>Border news number {n}.</summary></entry>"
        for n, (title, published, updated) in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><id>urn:f</id>'
        f"<title>Dates</title>{body}</feed>"
    ).encode()


def _json_feed(dates: dict[str, str]) -> bytes:
    items = [
        {"id": f"j{n}", "url": f"https://json.example/{n}", "title": f"Bad date: {name}", "date_published": text,
         "content_text": f"Terror news number {n}."}
        for n, (name, text) in enumerate(dates.items())
    ]  # fmt: skip
    items.append({"id": "good", "url": "https://json.example/good", "title": "Good entry", "date_published": GOOD_ISO,
                  "content_text": "Terror news."})  # fmt: skip
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Dates", "items": items}).encode()


# --- reading dates ----------------------------------------------------------------------------------------------


IMPLAUSIBLE = ("year 1", "epoch", "next year")  # real instants: the plausible window drops them, not parse_date
IMPOSSIBLE = [text for name, text in BAD_RFC.items() if name not in IMPLAUSIBLE] + list(BAD_ISO.values())


@pytest.mark.parametrize("text", IMPOSSIBLE)
def test_impossible_dates_are_none_and_never_an_error(text: str) -> None:
    assert parse_date(text) is None


def test_impossible_days_are_not_rolled_over_and_four_digit_years_are_not_two() -> None:
    assert parse_date("2026-02-30T10:00:00Z") is None  # feedparser's ISO reader says 2 March
    assert parse_date("10000-01-01T00:00:00Z") is None  # ... and 1 December 2010
    assert parse_date("Mon, 01 Jan 0001 00:00:00 GMT") == datetime(1, 1, 1, tzinfo=UTC)  # email.utils says 2001
    assert parse_date("Mon, 01 Jan 01 00:00:00 GMT") == datetime(2001, 1, 1, tzinfo=UTC)  # two digits: RFC 822
    assert parse_date("2026-02-28T10:00:00+01:00") == datetime(2026, 2, 28, 9, tzinfo=UTC)


@pytest.mark.parametrize("build", [_rss, _atom], ids=["rss", "atom"])
def test_both_feed_readers_drop_the_same_dates_with_the_same_notes(build: Any) -> None:
    body = build(BAD_RFC | BAD_ISO)
    assert parse_fast(body, "https://news.example/feed") is not None  # the fast path reads this document
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # feedparser's updated_parsed fallback
        slow = parse_feed(body, source_id="s", url="https://news.example/feed", now=NOW, fast=False).entries
    fast = parse_feed(body, source_id="s", url="https://news.example/feed", now=NOW).entries
    assert len(slow) == len(fast) == len(BAD_RFC) + len(BAD_ISO) + 2
    for a, b in zip(slow, fast, strict=True):
        assert (a.published_at, a.updated_at, a.raw.get("notes")) == (b.published_at, b.updated_at, b.raw.get("notes"))
        if a.title.startswith("Good"):
            assert a.published_at is not None and "notes" not in a.raw
            continue
        assert any("published date dropped" in note for note in a.raw["notes"]), a.raw
        # Atom entries with a good <updated> are dated by it; the others are undated.
        assert a.published_at == (a.updated_at if build is _atom else None)


# --- a real crawl -----------------------------------------------------------------------------------------------


def test_a_feed_with_bad_dates_is_stored_whole(tmp_path: Path, sqlite_url: str, server: TestServer) -> None:
    server.add("/rss", Reply(body=_rss(BAD_RFC | BAD_ISO)))
    server.add("/atom", Reply(body=_atom(BAD_ISO), content_type="application/atom+xml"))
    server.add("/json", Reply(body=_json_feed(BAD_ISO | BAD_RFC), content_type="application/feed+json"))
    cat = catalog(*(source(name, server.url("/" + name)) for name in ("rss", "atom", "json")))
    db = Database(sqlite_url)
    lines = lines_by_source(run(db, fast_settings(tmp_path), cat))
    expected = {"rss": len(BAD_RFC) + len(BAD_ISO) + 2, "atom": len(BAD_ISO) + 2, "json": len(BAD_ISO | BAD_RFC) + 1}
    for name, count in expected.items():
        assert lines[name].outcome == "ok" and lines[name].error is None, lines[name]
        assert lines[name].new == count, (name, lines[name])
    with db.session() as s:
        items = s.scalars(select(Item)).all()
    db.close()
    assert len(items) == sum(expected.values())
    for item in items:
        dated = item.published_at is not None
        assert not dated or EARLIEST <= item.published_at <= NOW + timedelta(days=1), (item.title, item.published_at)
        if item.title.startswith("Good"):
            assert dated and "notes" not in item.raw
            continue
        text = item.raw.get("published") or item.raw.get("date_published")
        assert any(repr(text) in note for note in item.raw["notes"]), item.raw  # the note quotes the feed
        assert dated == (item.source_id == "atom" and int(item.url.rsplit("/", 1)[1]) % 2 == 1), item.title


def test_sitemaps_and_listings_keep_entries_whose_dates_are_dropped() -> None:
    sitemap = (
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        "<url><loc>https://s.example/a</loc><lastmod>0000-00-00T00:00:00Z</lastmod></url>"
        "<url><loc>https://s.example/b</loc><news:news><news:publication_date>9999-12-31T23:59:59-01:00"
        "</news:publication_date><news:title>B</news:title></news:news></url>"
        f"<url><loc>https://s.example/c</loc><lastmod>{(NOW + timedelta(days=30)).date()}</lastmod></url>"
        f"<url><loc>https://s.example/d</loc><lastmod>{GOOD_ISO}</lastmod></url></urlset>"
    ).encode()
    entries = {e.url.rsplit("/", 1)[1]: e for e in parse_sitemap(sitemap, source_id="s", url="https://s.example/",
                                                                   now=NOW).entries}  # fmt: skip
    assert sorted(entries) == ["a", "b", "c", "d"]
    assert all(entries[k].published_at is None and entries[k].raw["notes"] for k in "abc")
    assert "more than a day after the fetch" in entries["c"].raw["notes"][0]
    assert entries["d"].published_at is not None and "notes" not in entries["d"].raw
    index = (
        b'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>https://s.example/old.xml</loc><lastmod>9999-12-01</lastmod></sitemap></sitemapindex>"
    )
    assert parse_sitemap(index, source_id="s", url="https://s.example/", now=NOW).children == [
        ("https://s.example/old.xml", None)
    ]

    page = (
        '<ul><li><a href="/1">One</a><time datetime="0001-01-01T00:00:00+01:00">x</time></li>'
        '<li><a href="/2">Two</a><time>31/02/2026</time></li>'
        f'<li><a href="/3">Three</a><time datetime="{GOOD_ISO}">x</time></li></ul>'
    )
    options = {"item_selector": "li", "date_selector": "time"}
    listed = parse_listing(page, source_id="l", url="https://l.example/", options=options, now=NOW)
    assert [e.published_at is None for e in listed] == [True, True, False]
    assert all("published date dropped" in e.raw["notes"][0] for e in listed[:2])


# --- dates already stored ---------------------------------------------------------------------------------------

EXTREMES = {"year 1": datetime(1, 1, 1, tzinfo=UTC), "year 9999": datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)}
SEEN = utc(2026, 6, 2, 15)  # after the 07:00 Mexico City close (13:00 UTC) of the 2 June digest
ZONES = ("America/Mexico_City", "Asia/Tokyo")  # west of UTC year 1 underflows, east of it year 9999 overflows


def _seed_extremes(session: Session) -> dict[str, int]:
    add_source(session, "wire")
    add_source(session, "proceso", language="es")
    text = "Gunmen of the Sinaloa cartel ambushed a military convoy near Culiacán, killing three soldiers."
    ids = {
        "good": add_item(session, "wire", "Sinaloa cartel ambushes army convoy near Culiacán", text,
                         seen=SEEN, published=SEEN - timedelta(hours=1), tags={"cartels": 0.9}),
    }  # fmt: skip
    for n, (name, when) in enumerate(EXTREMES.items()):
        ids[name] = add_item(
            session, "proceso" if n else "wire", f"Sinaloa cartel ambush on army convoy near Culiacán ({name})",
            text, seen=SEEN + timedelta(hours=n + 1), published=when, tags={"cartels": 0.85},
        )  # fmt: skip
        stored = session.get(Item, ids[name])
        assert stored is not None
        stored.updated_at = when
    session.flush()
    return ids


def _settings(tmp_path: Path, zone: str) -> Settings:
    settings = Settings(timezone=zone, data_dir=str(tmp_path / "data"))
    settings.config_dir = REPO / "config"
    return settings


@pytest.fixture
def extremes(db_url: str) -> Iterator[tuple[str, dict[str, int]]]:
    db = Database(db_url)
    with db.session() as session:
        ids = _seed_extremes(session)
    db.close()
    yield db_url, ids


def test_stories_digest_stats_and_search_survive_extreme_stored_dates(
    extremes: tuple[str, dict[str, int]], tmp_path: Path
) -> None:
    url, ids = extremes
    db = Database(url)
    with db.session() as session:
        report = assign_stories(session, now=SEEN + timedelta(hours=8), window=timedelta(hours=72))
        assert report.items == 3
        story = session.scalars(select(Story)).one()  # one event told three times: one story
        assert story.first_item_id == ids["good"] and story.item_count == 3  # year 1 is not the first report
    for zone in ZONES:
        settings = _settings(tmp_path / zone.replace("/", "-"), zone)
        with db.session() as session:
            preview = archive.preview(session, settings, topics(), now=SEEN + timedelta(hours=8), everything=True)
            assert preview["counts"]["new_items"] == 3 and preview["counts"]["stories"] == 1
            for fmt in FORMATS:
                assert render(preview, fmt)
            for by in BY:
                for per in (None, *PER):
                    found = volume(session, None, by=by, per=per, zone=settings.zone)
                    if per == "entity":  # none of these items names an entity of entities.toml: nothing to count
                        assert found.periods == [] and found.series == {}, (by, per)
                        continue
                    # Dated by their first sighting: no period before 2026 or after it.
                    assert found.periods and all(p.startswith("2026") for p in found.periods), (by, per)
                    assert sum(sum(series) for series in found.series.values()) == 3, (by, per)
            early = volume(session, "cartel", by="month", per=None, zone=settings.zone, since=date(1, 1, 1),
                           until=date(1, 3, 31))  # fmt: skip
            late = volume(session, None, by="day", per=None, zone=settings.zone, since=date(9999, 12, 20),
                          until=date(9999, 12, 31))  # fmt: skip
            assert early.series["all"] == [0, 0, 0] and late.periods[-1].startswith("9999-12-")
        with db.session() as session:
            newest = search(session, "cartel", sort="date", limit=10)
            assert {h.item_id for h in newest.hits} == set(ids.values())
            assert len(list(iter_matches(session, "cartel"))) == 3
    settings = _settings(tmp_path, ZONES[0])
    with db.session() as session:
        built = archive.build(session, settings, topics(), date(2026, 6, 3), now=utc(2026, 6, 5))
        assert built.digest.content["counts"]["new_items"] == 3
        assert all(render(built.digest.content, fmt) for fmt in FORMATS)
        for far in (date(1, 1, 1), date(9999, 12, 31)):
            with pytest.raises(DigestError, match="outside the dates"):
                archive.build(session, settings, topics(), far, now=utc(2026, 6, 5))
    db.close()


@pytest.mark.parametrize("zone", ZONES)
def test_pages_and_api_survive_extreme_stored_dates(
    extremes: tuple[str, dict[str, int]], tmp_path: Path, zone: str
) -> None:
    url, ids = extremes
    db = Database(url)
    with db.session() as session:
        assign_stories(session, now=SEEN + timedelta(hours=8), window=timedelta(hours=72))
    db.close()
    app = create_app(_settings(tmp_path, zone), url, allowed_hosts=["127.0.0.1"])
    paths = [f"/items/{item_id}" for item_id in ids.values()]  # each item page lists the others as its story
    paths += ["/", "/?q=cartel&sort=date", "/chart", "/chart?by=month&per=source", "/chart.svg?per=lang"]
    paths += [f"/api/items/{item_id}" for item_id in ids.values()]
    paths += [f"/api/volume?by={by}&per={per}" for by in BY for per in (*PER, "all")]
    paths += ["/api/search?q=cartel&sort=date", "/api/volume?by=week&since=0001-01-01&until=0001-02-01"]
    with WebServer(app) as srv, httpx.Client(base_url=srv.origin, timeout=30) as client:
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, (path, response.text[:300])
        volume_json = client.get("/api/volume", params={"by": "day", "per": "all"}).json()
        assert all(p.startswith("2026-06-") for p in volume_json["periods"]) and sum(volume_json["series"]["all"]) == 3


# --- migration 0007 ---------------------------------------------------------------------------------------------


def test_migration_mends_stored_dates(db_url: str) -> None:
    db = Database(db_url)
    with db.session() as session:
        ids = _seed_extremes(session)
        ids["1985"] = add_item(session, "wire", "Old archive piece", "x", seen=SEEN, published=utc(1985, 5, 1))
        # Ahead of its first sighting, but its page (fetched later) filled the date in: plausible.
        ids["page"] = add_item(session, "wire", "Dated by its page", "x", seen=SEEN, published=SEEN + timedelta(days=3))
        page = session.get(Item, ids["page"])
        assert page is not None
        page.fetched_at = SEEN + timedelta(days=3)
        ids["future"] = add_item(session, "wire", "Far ahead", "x", seen=SEEN, published=SEEN + timedelta(days=3))
        kept = session.get(Item, ids["future"])
        assert kept is not None
        kept.raw = {"notes": ["an earlier note"], "feed_url": "https://wire.example/feed"}
    # Back to 0006 (0007 has nothing to undo), then forward again as an upgrade would.
    config = Config()
    config.set_main_option("script_location", "aggregator.models:migrations")
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.stamp(config, "0006")
        command.upgrade(config, "0007")  # the migration under test; later ones create tables that exist here
    with db.session() as session:
        items = {name: session.get(Item, item_id) for name, item_id in ids.items()}
    db.close()
    assert all(i is not None for i in items.values())
    for name in ("year 1", "year 9999", "1985", "future"):
        item = items[name]
        assert item is not None and item.published_at is None, name
        assert any("published date dropped" in n and "migration 0007" in n for n in item.raw["notes"]), item.raw
    for name in ("year 1", "year 9999"):
        item = items[name]
        assert item is not None and item.updated_at is None
        assert any(n.startswith("updated date dropped") for n in item.raw["notes"])
    future = items["future"]
    assert future is not None and future.raw["notes"][0] == "an earlier note"
    assert future.raw["feed_url"] == "https://wire.example/feed"
    for name in ("good", "page"):
        item = items[name]
        assert item is not None and item.published_at is not None and "notes" not in item.raw, name


def test_a_period_filter_keeps_an_item_counted_by_its_first_sighting(db: Database) -> None:
    """An implausible publication date is counted on the day the item was seen; since/until must agree with that."""
    with db.session() as session:
        add_source(session, "alpha")
        add_item(
            session, "alpha", "old stamp", "x", seen=utc(2026, 11, 10, 12), published=datetime(1, 1, 2, tzinfo=UTC)
        )
        add_item(session, "alpha", "fine", "x", seen=utc(2026, 11, 10, 13), published=utc(2026, 11, 10, 9))
    with db.session() as session:
        found = volume(session, None, by="day", per=None, zone=ZoneInfo("UTC"),
                       since=date(2026, 11, 1), until=date(2026, 11, 30))  # fmt: skip
    assert sum(found.series["all"]) == 2
    assert found.series["all"][found.periods.index("2026-11-10")] == 2
