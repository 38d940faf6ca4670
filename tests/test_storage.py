"""Storage on SQLite and PostgreSQL: items stored once, updated in place, indexed for search, times in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from aggregator.config.sources import parse_sources
from aggregator.crawl.polling import PollPolicy
from aggregator.crawl.state import ERROR, OK, FetchReport, record_fetch, sync_sources
from aggregator.errors import StorageError
from aggregator.models import Fetch, Item, Sighting, Source
from aggregator.parse.entry import Article, Entry
from aggregator.store.database import Database
from aggregator.store.ingest import store_article, store_entries

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BODY = (
    "Federal agents seized 4,000 fentanyl pills hidden in a shipment of cucumbers at the Mariposa port of "
    "entry in Nogales, the agency said, adding that the driver was handed to investigators. The seizure is the "
    "third this month at the crossing, where new scanners were installed in the spring. Officials said the "
    "pills were pressed to look like prescription tablets and were bound for Phoenix."
)
SOURCES = """
[[source]]
id = "a"
name = "Outlet A"
kind = "feed"
url = "https://a.example/feed"
language = "en"
tier = "news"

[[source]]
id = "b"
name = "Outlet B"
kind = "feed"
url = "https://b.example/feed"
language = "en"
tier = "news"
"""


def _entry(source: str, guid: str, url: str, title: str = "Seizure at Nogales", summary: str = "") -> Entry:
    return Entry(source_id=source, url=url, title=title, guid=guid, summary_html=summary, published_at=NOW)


@pytest.fixture
def seeded(db: Database) -> Database:
    with db.session() as session:
        sync_sources(session, parse_sources(SOURCES, __import__("pathlib").Path("sources.toml")))
    return db


def test_guid_dedupe_and_update_in_place_keeps_first_seen(seeded: Database) -> None:
    with seeded.session() as s:
        first = store_entries(s, "a", [_entry("a", "g1", "https://a.example/1")], now=NOW)
    later = NOW + timedelta(hours=3)
    with seeded.session() as s:
        again = store_entries(s, "a", [_entry("a", "g1", "https://a.example/1")], now=later)
        edited = store_entries(
            s, "a", [_entry("a", "g1", "https://a.example/1", title="Seizure at Nogales (updated)")], now=later
        )
    assert first.new == 1 and again.new == 0 and again.unchanged == 1 and edited.updated == 1
    with seeded.session() as s:
        item = s.scalars(select(Item)).one()
        assert item.title == "Seizure at Nogales (updated)"
        assert item.first_seen_at == NOW
        assert item.updated_at == later
        assert item.first_seen_at.tzinfo is not None


def test_same_article_across_sources_is_one_item_with_two_sightings(seeded: Database) -> None:
    with seeded.session() as s:
        store_entries(s, "a", [_entry("a", "a-1", "https://www.news.example/story-1?utm_source=rss#top")], now=NOW)
        res = store_entries(s, "b", [_entry("b", "b-77", "https://m.news.example/story-1/amp/")], now=NOW)
    assert res.new == 0 and res.duplicates == 1
    with seeded.session() as s:
        assert s.scalar(select(func.count()).select_from(Item)) == 1
        assert sorted(s.scalars(select(Sighting.source_id))) == ["a", "b"]


def test_content_hash_folds_syndicated_copies_but_not_short_teasers(seeded: Database) -> None:
    with seeded.session() as s:
        store_entries(s, "a", [_entry("a", "x1", "https://a.example/x1", summary=f"<p>{BODY}</p>")], now=NOW)
        copy = store_entries(s, "b", [_entry("b", "y1", "https://b.example/y1", summary=BODY.upper())], now=NOW)
        s1 = store_entries(s, "a", [_entry("a", "t1", "https://a.example/t1", summary="Read more.")], now=NOW)
        s2 = store_entries(s, "b", [_entry("b", "t2", "https://b.example/t2", summary="Read more.")], now=NOW)
    assert copy.duplicates == 1 and copy.new == 0
    assert s1.new == 1 and s2.new == 1


def test_duplicates_inside_one_batch(seeded: Database) -> None:
    entries = [
        _entry("a", "1", "https://a.example/same?utm_medium=x"),
        _entry("a", "2", "https://a.example/same"),
        _entry("a", "3", "https://a.example/other"),
    ]
    with seeded.session() as s:
        res = store_entries(s, "a", entries, now=NOW)
    assert res.new == 2 and res.duplicates == 1
    with seeded.session() as s:
        assert s.scalar(select(func.count()).select_from(Sighting)) == 3


def test_article_canonical_url_merges_into_existing_item(seeded: Database) -> None:
    with seeded.session() as s:
        store_entries(s, "a", [_entry("a", "c1", "https://news.example/canonical-story")], now=NOW)
        res = store_entries(s, "b", [_entry("b", "r1", "https://track.example/r?id=99")], now=NOW, fulltext=True)
        (new_id,) = res.new_ids
        kept = store_article(
            s,
            new_id,
            Article(
                url="https://track.example/r?id=99", text=BODY, canonical_url="https://news.example/canonical-story"
            ),
            now=NOW,
        )
    with seeded.session() as s:
        assert s.scalar(select(func.count()).select_from(Item)) == 1
        assert kept != new_id
        assert sorted(s.scalars(select(Sighting.source_id))) == ["a", "b"]


def test_full_text_index_follows_inserts_and_updates(seeded: Database) -> None:
    with seeded.session() as s:
        store_entries(s, "a", [_entry("a", "f1", "https://a.example/f1", title="Guardia Nacional en Sonora")], now=NOW)
    assert _search(seeded, "sonora") == 1
    with seeded.session() as s:
        store_entries(
            s, "a", [_entry("a", "f1", "https://a.example/f1", title="Guardia Nacional en Chihuahua")], now=NOW
        )
    assert _search(seeded, "sonora") == 0
    assert _search(seeded, "chihuahua") == 1


def _search(db: Database, word: str) -> int:
    with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            return int(
                conn.execute(text("SELECT count(*) FROM items_fts WHERE items_fts MATCH :w"), {"w": word}).scalar_one()
            )
        return int(
            conn.execute(
                text("SELECT count(*) FROM items WHERE search @@ plainto_tsquery('simple', :w)"), {"w": word}
            ).scalar_one()
        )


def test_record_fetch_success_then_errors_back_off(seeded: Database) -> None:
    policy = PollPolicy(default=1800, minimum=300, maximum=86400)
    ok = FetchReport(
        "a",
        "https://a.example/feed",
        NOW,
        OK,
        http_status=200,
        etag='"v1"',
        entries=[_entry("a", "g", "https://a.example/g")],
    )
    with seeded.session() as s:
        record_fetch(s, ok, crawl_id="c1", policy=policy, now=NOW)
    waits = []
    for n in range(1, 4):
        bad = FetchReport("a", "https://a.example/feed", NOW, ERROR, http_status=503, error="fetch: HTTP 503")
        with seeded.session() as s:
            record_fetch(s, bad, crawl_id=f"e{n}", policy=policy, now=NOW)
            src = s.get(Source, "a")
            assert src is not None
            waits.append((src.next_check_at - NOW).total_seconds())
            assert src.error_count == n and src.last_error == "fetch: HTTP 503"
            assert src.etag == '"v1"'  # an error never throws away the last good validators
    assert waits[0] < waits[1] < waits[2]
    with seeded.session() as s:
        assert s.scalar(select(func.count()).select_from(Fetch)) == 4
        assert s.scalar(select(func.count()).select_from(Item)) == 1


def test_retry_after_is_honoured(seeded: Database) -> None:
    policy = PollPolicy()
    report = FetchReport("b", "u", NOW, ERROR, http_status=429, error="fetch: HTTP 429", retry_after_seconds=7200)
    with seeded.session() as s:
        record_fetch(s, report, crawl_id="r", policy=policy, now=NOW)
        src = s.get(Source, "b")
        assert src is not None and src.next_check_at is not None
        assert src.next_check_at >= NOW + timedelta(seconds=7200)


def test_naive_datetimes_are_refused(seeded: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        with seeded.session() as s:
            store_entries(s, "a", [_entry("a", "n", "https://a.example/n")], now=datetime(2026, 1, 1))


def test_unreachable_database_is_one_clear_error() -> None:
    with pytest.raises(StorageError, match="storage: cannot open"):
        Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(StorageError, match="not a database URL"):
        Database("not a url at all")
