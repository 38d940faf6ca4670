"""Crawl bounds, through real crawls of a local server: field sizes cut, entries per fetch capped, guid churn
flagged, and content-hash dedupe that keeps different items apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from aggregator.crawl.health import source_health
from aggregator.crawl.state import sync_sources
from aggregator.models import Fetch, Item, Sighting
from aggregator.parse.entry import Article, Entry
from aggregator.store.database import Database
from aggregator.store.ingest import store_article, store_entries
from aggregator.store.sizes import cut_html, cut_text, cut_title
from tests import feedgen
from tests.crawling import catalog, fast_settings, run, source
from tests.httpserver import Reply, Request, TestServer

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# A channel blurb long enough to be content-hashed (ingest's MIN_HASHED_CHARS), shared by its videos.
BLURB = (
    "Comedy Club: the best of the show every Friday at 19:00. Follow us: Telegram https://t.me/comedy, "
    "VK https://vk.com/comedy, OK https://ok.ru/comedy. Production: Comedy Club Production. All the episodes, "
    "the backstage and the interviews with the residents are on our channel; subscribe so you miss nothing, "
    "and tell us in the comments which sketch we should film next."
)


def _items(base: str, numbers: range, **extra: Any) -> list[dict[str, Any]]:
    return [feedgen.item(n, base, date=T0 - timedelta(minutes=n), **extra) for n in numbers]


def _rss(items: list[dict[str, Any]]) -> bytes:
    """A large RSS 2.0 document, written straight (feedgen's writer is for small ones)."""
    parts = ['<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Big</title>']
    for it in items:
        parts.append(
            f"<item><title>{escape(it['title'])}</title><link>{escape(it['link'])}</link>"
            f'<guid isPermaLink="false">{escape(it["guid"])}</guid>'
            f"<pubDate>{format_datetime(it['date'], usegmt=True)}</pubDate></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


# Field sizes -------------------------------------------------------------------------------------------------


def test_a_5_mb_title_is_stored_cut_to_the_cap_with_a_note(tmp_path: Path, sqlite_url: str, server: TestServer) -> None:
    huge = ("Detención en Cajeme tras un enfrentamiento armado. " * 110_000)[: 5 * 1024 * 1024].strip()
    items = [feedgen.item(1, server.base, title=huge), feedgen.item(2, server.base)]
    server.add("/feed", Reply(body=feedgen.rss20(items)))
    db = Database(sqlite_url)
    run(db, fast_settings(tmp_path), catalog(source("big", server.url("/feed"), language="es")))
    with db.session() as s:
        cut = s.scalars(select(Item).where(Item.url.endswith("/1.html"))).one()
        plain = s.scalars(select(Item).where(Item.url.endswith("/2.html"))).one()
        fetch = s.scalars(select(Fetch)).one()
    assert 900 <= len(cut.title) <= 1000 and cut.title.endswith("…")
    assert huge.startswith(cut.title[:-1]) and huge[len(cut.title) - 1] == " "  # cut between two words
    assert cut.raw["notes"] == [f"title cut to {len(cut.title):,} of {len(huge):,} characters"]
    assert plain.title == items[1]["title"] and "notes" not in plain.raw
    assert fetch.error == "warning: 1 entry with fields cut to size (the items' notes say which)"


def test_oversized_text_and_summary_are_cut_at_paragraph_ends(
    tmp_path: Path, sqlite_url: str, server: TestServer
) -> None:
    sentence = "Soldiers detained four men after a shootout near the highway to Caborca, officials said."
    paragraphs = [f"Paragraph {n}. {sentence}" for n in range(7_000)]
    content = "".join(f"<p>{p}</p>" for p in paragraphs)  # about 700,000 characters of text
    summary = "".join(f"<p><b>{n}</b> {sentence}</p>" for n in range(3_000))  # about 330,000 characters of HTML
    feed_items = [feedgen.item(1, server.base, summary=summary, content=content)]
    server.add("/feed", Reply(body=feedgen.rss20(feed_items)))
    page_item = feedgen.item(5, server.base + "/p", summary="<p>Teaser.</p>")
    server.add("/p/articles/5.html", Reply(body=feedgen.article_page("Long", paragraphs), content_type="text/html"))
    server.add("/pages", Reply(body=feedgen.rss20([page_item])))
    db = Database(sqlite_url)
    cat = catalog(source("feed", server.url("/feed")), source("pages", server.url("/pages"), fulltext=True))
    run(db, fast_settings(tmp_path), cat)
    whole = "\n".join(paragraphs)
    with db.session() as s:
        item = s.scalars(select(Item).where(Item.source_id == "feed")).one()
        page = s.scalars(select(Item).where(Item.source_id == "pages")).one()
    assert 400_000 <= len(item.text) <= 500_000 and whole.startswith(item.text) and whole[len(item.text)] == "\n"
    assert 160_000 <= len(item.summary) <= 200_000 and item.summary.endswith("</p>")
    assert summary.startswith(item.summary) and item.summary_text.endswith("officials said.")
    assert item.raw["notes"] == [
        f"summary cut to {len(item.summary):,} of {len(summary):,} characters",
        f"text cut to {len(item.text):,} of {len(whole):,} characters",
    ]
    assert page.fulltext_state == "done" and 400_000 <= len(page.text) <= 500_000
    assert page.text.endswith(sentence) and page.raw["notes"][0].startswith(f"page text cut to {len(page.text):,} of")


def test_cuts_fall_on_character_sentence_and_tag_boundaries() -> None:
    # "é" as e + a combining accent: a cut never parts them.
    assert cut_text("Cafe\u0301 " * 10, 4 * 6 + 4) == ("Cafe\u0301 " * 4).rstrip()
    assert cut_text("x" * 40 + "e\u0301abc", 41) == "x" * 40  # no space to cut at: back to before the "e"
    assert cut_text("aaaa " * 7 + "done. tail tail tail", 48) == "aaaa " * 7 + "done."  # a sentence end near the cap
    assert cut_title("word " * 400, 100) == ("word " * 19).strip() + "…"
    html = "<p>" + "a " * 30 + '</p><p>Tail with <a href="https://x.example/">a link</a> and more words'
    assert cut_html(html, 100) == "<p>" + "a " * 30 + "</p><p>Tail with</p>"  # not inside <a ...>, <p> closed
    nested = "<blockquote>" * 10 + "<p>" + "text " * 100
    cut = cut_html(nested, 400)
    assert 300 < len(cut) <= 400 and cut.endswith("text</p>" + "</blockquote>" * 10)  # room made for the end tags


# Entries per fetch -------------------------------------------------------------------------------------------


def test_a_20000_entry_feed_takes_1000_per_fetch_newest_not_stored_first(
    tmp_path: Path, db_url: str, server: TestServer
) -> None:
    state = {"first": 0}

    def feed(_request: Request) -> Reply:
        first = state["first"]
        return Reply(body=_rss(_items(server.base, range(first, first + 20_000))), etag=True)

    server.add("/big", feed)
    db = Database(db_url)
    settings = fast_settings(tmp_path, max_entries_per_fetch=1000)
    cat = catalog(source("big", server.url("/big")))

    def stored() -> set[int]:
        with db.session() as s:
            return {int(u.rsplit("/", 1)[-1].removesuffix(".html")) for u in s.scalars(select(Item.url))}

    run(db, settings, cat)
    assert stored() == set(range(1000))  # the newest thousand
    with db.session() as s:
        first = s.scalars(select(Fetch)).one()
    assert first.entries == 1000 and first.new == 1000
    assert first.error == (
        "warning: 20000 entries, more than max_entries_per_fetch (1000): "
        "19000 skipped (19000 of them not stored yet, left for later fetches)"
    )
    state["first"] = -500  # 500 newer entries at the top, the 500 oldest gone
    run(db, settings, cat, wanted=["big"])
    assert stored() == set(range(-500, 1500))  # the new ones, then the newest of those skipped before
    run(db, settings, cat, wanted=["big"])  # the feed has not changed: it is read again all the same
    assert stored() == set(range(-500, 2500))
    with db.session() as s:
        statuses = list(s.scalars(select(Fetch.http_status).order_by(Fetch.id)))
    assert statuses == [200, 200, 200]


def test_a_feed_under_the_cap_keeps_its_validators(tmp_path: Path, sqlite_url: str, server: TestServer) -> None:
    server.add("/feed", Reply(body=_rss(_items(server.base, range(50))), etag=True))
    db = Database(sqlite_url)
    cat = catalog(source("small", server.url("/feed")))
    run(db, fast_settings(tmp_path, max_entries_per_fetch=50), cat)
    run(db, fast_settings(tmp_path, max_entries_per_fetch=50), cat, wanted=["small"])
    with db.session() as s:
        fetches = s.scalars(select(Fetch).order_by(Fetch.id)).all()
    assert [(f.outcome, f.http_status, f.new, f.error) for f in fetches] == [
        ("ok", 200, 50, None),
        ("not_modified", 304, 0, None),
    ]


# Guid churn --------------------------------------------------------------------------------------------------


def test_guid_churn_is_flagged_in_health_and_stable_or_busy_feeds_are_not(
    tmp_path: Path, db_url: str, server: TestServer
) -> None:
    hits: dict[str, int] = {}

    def route(name: str) -> Any:
        def reply(_request: Request) -> Reply:
            n = hits[name] = hits.get(name, 0) + 1
            base = server.base
            if name == "churn":  # new guid and link every time, same stories
                items = [feedgen.item(k, base, guid=f"urn:{n}:{k}", link=f"{base}/c/{k}?s={n}") for k in range(12)]
            elif name == "relink":  # new guid every time, links kept: the stories are stored once, the guids pile up
                items = [feedgen.item(k, base + "/r", guid=f"urn:r:{n}:{k}") for k in range(12)]
            elif name == "busy":  # twelve real new stories every time
                items = [feedgen.item(k, base + "/b", title=f"Story {k}") for k in range(12 * n, 12 * n + 12)]
            else:  # the same stories; only the channel's build date changes
                items = [feedgen.item(k, base + "/s") for k in range(12)]
            return Reply(body=feedgen.rss20(items, extra_channel=f"<lastBuildDate>{n}</lastBuildDate>"))

        return reply

    names = ["churn", "relink", "busy", "stable"]
    for name in names:
        server.add(f"/{name}", route(name))
    db = Database(db_url)
    settings = fast_settings(tmp_path)
    cat = catalog(*(source(name, server.url(f"/{name}")) for name in names))

    def health() -> dict[str, tuple[str, str | None]]:
        with db.session() as s:
            return {h.source_id: (h.status, h.warning) for h in source_health(s, datetime.now(UTC))}

    for _ in range(3):
        run(db, settings, cat, wanted=names)
    # The first fetch of a feed is its backlog: three fetches after it are needed.
    assert {sid: status for sid, (status, _) in health().items()} == dict.fromkeys(names, "ok")
    run(db, settings, cat, wanted=names)
    changing = "per fetch, the feed's guids change on every fetch"
    assert health() == {
        "churn": ("warning", f"guid churn: 12 new items {changing}"),
        "relink": ("warning", f"guid churn: 12 new guids (no new items) {changing}"),
        "busy": ("ok", None),
        "stable": ("ok", None),
    }


# Content-hash dedupe -----------------------------------------------------------------------------------------


def test_a_shared_description_does_not_merge_different_items_but_a_true_copy_folds(
    tmp_path: Path, db_url: str, server: TestServer
) -> None:
    base = server.base
    videos = [
        feedgen.item(1, base + "/v", title="Comedy Club: «September 3»", summary=BLURB),
        feedgen.item(2, base + "/v", title="Comedy Club «The Painting» with Garik Kharlamov", summary=BLURB),
    ]
    copy = [feedgen.item(1, base + "/mirror", title="COMEDY CLUB — September 3", summary=BLURB.upper())]
    server.add("/channel", Reply(body=feedgen.rss20(videos)))
    server.add("/mirror", Reply(body=feedgen.rss20(copy)))
    db = Database(db_url)
    cat = catalog(source("channel", server.url("/channel")), source("mirror", server.url("/mirror")))
    run(db, fast_settings(tmp_path), cat, wanted=["channel"])
    run(db, fast_settings(tmp_path), cat, wanted=["mirror"])
    with db.session() as s:
        items = {i.id: i.title for i in s.scalars(select(Item))}
        seen = sorted((s.source_id, items[s.item_id]) for s in s.scalars(select(Sighting)))
    assert sorted(items.values()) == sorted(v["title"] for v in videos)
    assert seen == [
        ("channel", "Comedy Club «The Painting» with Garik Kharlamov"),
        ("channel", "Comedy Club: «September 3»"),
        ("mirror", "Comedy Club: «September 3»"),  # same words in the title and the text: one article
    ]


def test_article_text_shared_by_items_with_different_titles_does_not_merge_them(db: Database) -> None:
    with db.session() as s:
        sync_sources(s, catalog(source("a", "https://a.example/feed"), source("b", "https://b.example/feed")))
        first = store_entries(s, "a", [_entry("a", "Cartel leader arrested", "https://a.example/1")], now=T0)
        other = store_entries(s, "a", [_entry("a", "Border wall contract", "https://a.example/2")], now=T0)
        copy = store_entries(s, "b", [_entry("b", "Cartel Leader Arrested!", "https://b.example/9")], now=T0)
    paywall = Article(url="", text=BLURB)  # one page of boilerplate for every article of the site
    with db.session() as s:
        kept = [store_article(s, r.new_ids[0], paywall, now=T0) for r in (first, other, copy)]
    assert kept == [first.new_ids[0], other.new_ids[0], first.new_ids[0]]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Item)) == 2


def _entry(source_id: str, title: str, url: str) -> Entry:
    return Entry(source_id=source_id, url=url, title=title, guid=url, published_at=T0)
