"""The URL dedupe key (identifying parameters kept, tracking dropped, redirectors unwrapped) and migration 0006."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from aggregator.models import base as models_base
from aggregator.parse.entry import Entry
from aggregator.store.database import Database, _alembic_config, make_engine
from aggregator.store.ingest import store_entries
from aggregator.store.urls import MAX_KEY, TRACKING_PARAMS, is_tracking_param, redirect_target, url_key

ALERT = "https://www.google.com/url?rct=j&sa=t&url={}&ct=ga&cd=CAIyHGU4ZTJk&usg=AFQjCNHUcRGt"
BING = "http://www.bing.com/news/apiclick.aspx?ref=FexRss&aid=&tid=12BE3CE2&url={}&c=4438839993362862681&mkt=it-it"
# A Google News link from real-feeds/googlenews-fr-1.xml: its id holds the article's URL.
GOOGLE_NEWS = (
    "https://news.google.com/__i/rss/rd/articles/CBMiiwFodHRwczovL3d3dy5ydGJmLmJlL2luZm8vc29jaWV0ZS9kZXRhaWxfY29yb25h"
    "dmlydXMtZW4tYmVsZ2lxdWUtMjAwLWNhcy1kZXRlY3Rlcy1hdS10b3RhbC1sYS1jaXJjdWxhdGlvbi1kdS12aXJ1cy1yZXN0ZS1saW1pdGVlP2lk"
    "PTEwNDUwNzkz0gEA?oc=5"
)
GOOGLE_NEWS_TARGET = (
    "https://www.rtbf.be/info/societe/detail_coronavirus-en-belgique-200-cas-detectes-au-total-la-circulation-du-"
    "virus-reste-limitee?id=10450793"
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://www.youtube.com/watch?v=q-6oU3jXAho", "https://www.youtube.com/watch?v=YmOVoIpaPrc"),
        ("https://blog.example/?post_type=event&p=12", "https://blog.example/?post_type=page&p=12"),
        ("https://blog.example/?attachment_id=7", "https://blog.example/?attachment_id=8"),
        (
            "https://www.diario.example/index.php?option=com_content&view=article&id=5",
            "https://www.diario.example/index.php?option=com_content&view=category&id=5",
        ),
        ("https://news.example/article.aspx?ArticleID=991", "https://news.example/article.aspx?ArticleID=992"),
        ("https://www.periodico.example/nota.php?idNota=77", "https://www.periodico.example/nota.php?idNota=78"),
        # real-feeds/kc0011-1.xml: one thread id on two boards
        ("http://www.kc0011.net/dispbbs.asp?BoardID=10&ID=25164257", "http://www.kc0011.net/dispbbs.asp?BoardID=3&ID=25164257"),
        # real-feeds/washingtonpost-1.xml: click trackers whose target is a hash, not a URL
        (
            "http://feeds.washingtonpost.com/click.phdo?i=cc0c5fb09865354bbec8415210a554da",
            "http://feeds.washingtonpost.com/click.phdo?i=2f874f0b0fd978fc92511a191f7a4644",
        ),
        (
            "http://ads.pheedo.com/click.phdo?s=cc0c5fb09865354bbec8415210a554da&p=4",
            "http://ads.pheedo.com/click.phdo?s=f82398780695d62bc58431bab2672902&p=4",
        ),
    ],
)  # fmt: skip
def test_identifying_parameters_keep_articles_apart(a: str, b: str) -> None:
    assert url_key(a) != url_key(b)
    assert url_key(a) and "?" in (url_key(a) or "")


def test_tracking_parameters_are_dropped_and_the_rest_kept() -> None:
    clean = "https://www.youtube.com/watch?v=q-6oU3jXAho"
    tracked = (
        clean + "&utm_source=rss&UTM_Medium=feed&utm_campaign=x&fbclid=IwAR0&gclid=Cj0&mc_cid=a1&mc_eid=b2"
        "&igshid=MzRl&xtor=RSS-3208&wt_mc=rss.developer&_ga=2.1&msclkid=9"
    )
    assert url_key(tracked) == url_key(clean) == "youtube.com/watch?v=q-6oU3jXAho"
    assert url_key(tracked) != url_key("https://www.youtube.com/watch?v=YmOVoIpaPrc&utm_source=rss")
    assert is_tracking_param("utm_whatever") and is_tracking_param("FBCLID") and "igshid" in TRACKING_PARAMS
    # Names that choose content on some sites are not tracking everywhere.
    assert not any(is_tracking_param(name) for name in ("ref", "source", "src", "partner", "id", "p", "v", "page"))
    session = "https://shop.example/item;jsessionid=0A1B2C?id=5"
    assert url_key(session) == url_key("https://shop.example/item?id=5") != url_key("https://shop.example/item?id=6")


def test_parameter_order_does_not_matter() -> None:
    video = url_key("https://www.youtube.com/watch?v=abc&list=PL1")
    assert video == url_key("https://youtube.com/watch?list=PL1&v=abc")
    assert video != url_key("https://youtube.com/watch?v=abc&list=PL2")
    # A repeated parameter keeps the order of its values.
    assert url_key("https://a.example/s?tag=x&tag=y") != url_key("https://a.example/s?tag=y&tag=x")


@pytest.mark.parametrize(
    ("wrapper", "target"),
    [
        (ALERT.format("https://investorplace.com/2019/07/slack-stock-truly-compelling/"),
         "https://investorplace.com/2019/07/slack-stock-truly-compelling/"),
        ("https://www.google.com/url?q=https://www.sacbee.com/news/article232483667.html&sa=D&usg=AOv",
         "https://www.sacbee.com/news/article232483667.html"),
        ("https://www.google.co.uk/url?sa=t&url=https%3A%2F%2Fwww.ft.com%2Fcontent%2F6ee262ba%3Fid%3D1&ved=2ah",
         "https://www.ft.com/content/6ee262ba?id=1"),
        (BING.format("https%3a%2f%2fwww.dailymail.co.uk%2fsport%2ffootball%2farticle-9554407%2fReal-Madrid.html"),
         "https://www.dailymail.co.uk/sport/football/article-9554407/Real-Madrid.html"),
        ("https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.elpais.example%2Fmexico%2F2026-11-20%2Fcartel.html&h=AT0",
         "https://www.elpais.example/mexico/2026-11-20/cartel.html"),
        (GOOGLE_NEWS, GOOGLE_NEWS_TARGET),
        # An alert for a Bing News result: unwrapped twice.
        (ALERT.format("http://www.bing.com/news/apiclick.aspx%3Furl%3Dhttps%253A%252F%252Fnews.example%252Fa%26c%3D1"),
         "https://news.example/a"),
    ],
)  # fmt: skip
def test_redirectors_are_unwrapped(wrapper: str, target: str) -> None:
    assert url_key(wrapper) == url_key(target)
    assert url_key(wrapper) == url_key(target + "?utm_source=alert" if "?" not in target else target + "&utm_source=x")
    assert redirect_target(wrapper) is not None and url_key(redirect_target(wrapper) or "") == url_key(target)


def test_distinct_redirected_articles_stay_distinct() -> None:
    first = ALERT.format("https://investorplace.com/2019/07/slack-stock-truly-compelling/")
    second = ALERT.format("https://www.vox.com/2019/7/10/20688476/recode-daily-slack-has-a-snap-problem")
    assert url_key(first) != url_key(second)
    # A target pasted unescaped: its own parameters were read as the wrapper's, and are given back to it.
    one = "https://www.google.com/url?url=https://news.example/a.php?id=1&sec=2&ct=ga&usg=x"
    other = "https://www.google.com/url?url=https://news.example/a.php?id=1&sec=3&ct=ga&usg=x"
    assert url_key(one) == url_key("https://news.example/a.php?sec=2&id=1") != url_key(other)
    assert redirect_target("https://example.com/story") is None and redirect_target("") is None


BAD_TARGETS = [
    "https://www.google.com/url?q=javascript:alert(1)&sa=D",
    "https://www.google.com/url?url=ftp://files.example/a.txt&ct=ga",
    "https://www.google.com/url?url=mailto:desk@example.com",
    "https://www.google.com/url?url=/search%3Fq%3Dcartel",
    "https://www.google.com/url?url=http://[not-an-ip/a",
    "https://www.google.com/url?url=https://host.example:99999/a",
    "https://www.google.com/url?url=&q=",
    "https://www.google.com/url?sa=t",
    "http://www.bing.com/news/apiclick.aspx?url=%%%garbage",
    "http://www.bing.com/news/apiclick.aspx?url=javascript%3Avoid(0)",
    "https://l.facebook.com/l.php?u=data:text/html,hi",
    # A newer Google News id: an opaque token where older ids held the URL.
    "https://news.google.com/rss/articles/CBMiWkFVX3lxTE9WbVBLNkNReHRrY0xqdW1zOGF4SHhpZ2ZoOFBfRmw?oc=5",
    "https://news.google.com/rss/articles/CBMi_____________",
    "https://news.google.com/rss/articles/Zm9vYmFyYmF6cXV4",
]


@pytest.mark.parametrize("wrapper", BAD_TARGETS)
def test_bad_redirect_targets_keep_the_wrapper_as_key(wrapper: str) -> None:
    key = url_key(wrapper)
    wrappers = ("google.com/url", "bing.com/news/apiclick.aspx", "l.facebook.com/l.php", "news.google.com/rss/")
    assert key is not None and key.startswith(wrappers), key
    assert redirect_target(wrapper) is None
    # The wrapper's own parameters stay in its key: they are what tells two such links apart.
    assert "?" in key or "?" not in wrapper


def test_wrappers_kept_as_keys_stay_apart() -> None:
    assert len({url_key(w) for w in BAD_TARGETS}) == len(BAD_TARGETS)


def test_what_the_old_key_did_well_is_kept() -> None:
    same = [
        ("https://www.example.com/a/story?utm_source=rss&utm_medium=feed", "http://example.com/a/story/"),
        ("https://m.example.com/a/story#comments", "https://example.com/a/story"),
        ("https://amp.example.com/a/story", "https://mobile.example.com/a/story"),
        ("https://example.com/amp/a/story", "https://example.com/a/story"),
        ("https://example.com/a/story/amp/", "https://example.com/a/story.amp"),
        ("https://example.com/a/story?outputType=amp", "https://example.com/a/story"),
        ("HTTPS://EXAMPLE.COM:443/a/story", "http://example.com:80//a//story"),
        ("https://example.com", "https://example.com/"),
        ("http://xn--bcher-kva.example/caf%c3%a9", "http://bücher.example/café"),
        ("https://example.com/%7Euser/a", "https://example.com/~user/a"),
        ("https://example.com/../a", "https://example.com/a"),
    ]
    for a, b in same:
        assert url_key(a) == url_key(b), (a, b)
    assert url_key("https://example.com/a") != url_key("https://other.example/a")
    assert url_key("https://example.com:8080/a") != url_key("https://example.com/a")
    assert url_key("https://example.com/A") != url_key("https://example.com/a")


def test_route_fragments_name_pages() -> None:
    assert url_key("https://app.example/#!/story/1") != url_key("https://app.example/#!/story/2")
    assert url_key("https://app.example/#/story/1") != url_key("https://app.example/")
    assert url_key("https://app.example/page#section-2") == url_key("https://app.example/page")


def test_malformed_urls_never_raise() -> None:
    for bad in ("", "   ", "mailto:x@example.com", "javascript:alert(1)", "ftp://example.com/a", "/relative",
                "http://", "https://", "http://[::1", "http://host.example:99999/a", "http://host.example:port/a",
                "https:/example.com", "http://user@/path"):  # fmt: skip
        assert url_key(bad) is None, bad
    assert url_key("http://[2001:db8::1]:8080/a") == "[2001:db8::1]:8080/a"
    assert url_key("  https://example.com/a \n") == url_key("https://example.com/a")
    long = url_key("https://example.com/" + "x" * 5000)
    assert long is not None and long.startswith("sha256:") and len(long) < MAX_KEY
    assert url_key("https://example.com/a?q=" + "y" * 5000) != long


# --- migration 0006: re-key stored items ---------------------------------------------------------------------

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
_TYPES: dict[str, Any] = {
    "first_seen_at": models_base.UTCDateTime(), "fetched_at": models_base.UTCDateTime(),
    "published_at": models_base.UTCDateTime(), "seen_at": models_base.UTCDateTime(),
    "created_at": models_base.UTCDateTime(), "classified_at": models_base.UTCDateTime(),
    "last_seen_at": models_base.UTCDateTime(), "updated_at": models_base.UTCDateTime(),
    "raw": models_base.JSONType, "explanation": models_base.JSONType,
}  # fmt: skip


def _insert(conn: sa.Connection, table: str, **values: Any) -> int:
    """One row through a table description of just these columns, so the test does not follow later schemas."""
    columns = [sa.column(name, _TYPES.get(name)) for name in values]
    result = conn.execute(sa.insert(sa.table(table, *columns)).values(**values))
    return int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0


def _item(conn: sa.Connection, item_id: int, url: str, key: str | None, seen: datetime, **extra: Any) -> None:
    values = {"id": item_id, "source_id": "a", "url": url, "url_key": key, "title": f"Item {item_id}", "summary": "",
              "summary_text": "", "text": f"text of item {item_id}", "authors": "", "first_seen_at": seen,
              "fetched_at": seen, "fulltext_state": "none", "fulltext_attempts": 0, "raw": {}}  # fmt: skip
    _insert(conn, "items", **(values | extra))


def _sighting(conn: sa.Connection, item_id: int, source_id: str, guid: str, url: str) -> None:
    _insert(conn, "sightings", item_id=item_id, source_id=source_id, guid=guid, url=url, seen_at=T0)


def _label(conn: sa.Connection, item_id: int, topic: str, value: bool, at: datetime) -> None:
    _insert(conn, "labels", item_id=item_id, topic=topic, value=value, created_at=at, origin="cli")


def _verdict(conn: sa.Connection, item_id: int, topic: str, score: float) -> None:
    _insert(conn, "item_topics", item_id=item_id, topic=topic, score=score, passed=True, method="rules",
            explanation={}, classified_at=T0, classifier="rules")  # fmt: skip


def _story(conn: sa.Connection, story_id: int) -> None:
    values = {"id": story_id, "title": "Story", "first_seen_at": T0, "last_seen_at": T0, "first_item_id": 0,
              "first_source_id": "a", "item_count": 0, "source_count": 1, "updated_at": T0}  # fmt: skip
    _insert(conn, "stories", **values)


def _seed_at_0005(url: str) -> None:
    """A database at revision 0005 holding items keyed the old way (courlan's strict normaliser)."""
    engine = make_engine(url)
    try:
        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0005")
        with engine.begin() as conn:
            for sid in ("a", "alerts", "bing"):
                _insert(conn, "sources", id=sid, name=sid, kind="feed", url=f"https://{sid}.example/feed",
                        language="en", tier="news", enabled=True, in_config=True, error_count=0)  # fmt: skip
            for story_id in (1, 2, 3):
                _story(conn, story_id)
            # 1: two videos wrongly merged under the old key; the second left only its sighting.
            _item(conn, 1, "https://www.youtube.com/watch?v=AAAAAAAAAAA", "youtube.com/watch", T0)
            _sighting(conn, 1, "a", "yt:video:AAAAAAAAAAA", "https://www.youtube.com/watch?v=AAAAAAAAAAA")
            _sighting(conn, 1, "a", "yt:video:BBBBBBBBBBB", "https://www.youtube.com/watch?v=BBBBBBBBBBB")
            # 2 (a Google Alerts link, first seen later) and 3 (the publisher's own link): one article.
            alert = ALERT.format("https://news.example/story-1")
            later, earlier = T0 + timedelta(hours=2), T0 + timedelta(hours=1)
            _item(conn, 2, alert, "google.com/url", later, story_id=1, text="the alert copy says gazpachoword")
            direct = "https://news.example/story-1?utm_source=rss"
            _item(conn, 3, direct, "news.example/story-1", earlier, text="the publisher copy says keeperword")
            _item(conn, 4, "https://other.example/story-9", "other.example/story-9", T0, story_id=1)
            _sighting(conn, 2, "alerts", "tag:google.com,2013:googlealerts/feed:1", alert)
            _sighting(conn, 3, "a", "news-1", direct)
            _sighting(conn, 4, "a", "other-9", "https://other.example/story-9")
            _label(conn, 2, "cartels", True, T0 + timedelta(days=2))
            _label(conn, 2, "border", False, T0 + timedelta(days=1))
            _label(conn, 3, "cartels", False, T0 + timedelta(days=1))
            _label(conn, 3, "terror", True, T0 + timedelta(days=3))
            _label(conn, 2, "terror", False, T0 + timedelta(days=2))
            _verdict(conn, 2, "cartels", 0.2)
            _verdict(conn, 2, "terror", 0.7)
            _verdict(conn, 3, "cartels", 0.9)
            # 5 (a Bing News link, alone in story 2) and 6 (the direct link, older, in story 3).
            bing = BING.format("https%3a%2f%2fwww.dailymail.example%2fsport%2farticle-9554407.html")
            _item(conn, 5, bing, "bing.com/news/apiclick.aspx", T0 + timedelta(hours=5), story_id=2)
            _item(conn, 6, "https://www.dailymail.example/sport/article-9554407.html",
                  "dailymail.example/sport/article-9554407.html", T0, story_id=3)  # fmt: skip
            _sighting(conn, 5, "bing", "bing-1", bing)
            _sighting(conn, 6, "a", "dm-1", "https://www.dailymail.example/sport/article-9554407.html")
            # 7 and 8 hold each other's new key: re-keying must move both without a unique-index clash.
            _item(conn, 7, "https://swap.example/?p=1", "swap.example/?p=2", T0)
            _item(conn, 8, "https://swap.example/?p=2", "swap.example/?p=1", T0)
            # 9: a link-less entry (no key); 10: a key that does not change.
            _item(conn, 9, "https://a.example/feed", None, T0, raw={"no_link": True})
            _item(conn, 10, "https://plain.example/a", "plain.example/a", T0)
            conn.execute(sa.text("UPDATE stories SET first_item_id = 2, item_count = 2 WHERE id = 1"))
            conn.execute(sa.text("UPDATE stories SET first_item_id = 5, item_count = 1 WHERE id = 2"))
            conn.execute(sa.text("UPDATE stories SET first_item_id = 6, item_count = 1 WHERE id = 3"))
            if conn.dialect.name == "postgresql":  # explicit ids do not move the sequences on
                for table in ("items", "stories"):
                    conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 100)"))
    finally:
        engine.dispose()


def _search(conn: sa.Connection, word: str) -> list[int]:
    if conn.dialect.name == "sqlite":
        query = "SELECT rowid FROM items_fts WHERE items_fts MATCH :w ORDER BY rowid"
    else:
        query = "SELECT id FROM items WHERE search @@ plainto_tsquery('simple', :w) ORDER BY id"
    return [row[0] for row in conn.execute(sa.text(query), {"w": word})]


def test_migration_0006_rekeys_and_merges_true_duplicates(db_url: str) -> None:
    _seed_at_0005(db_url)
    db = Database(db_url)  # migrates to head
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, url_key, story_id FROM items ORDER BY id")).all()
            keys = {r.id: r.url_key for r in rows}
            assert set(keys) == {1, 3, 4, 6, 7, 8, 9, 10}, "only the true duplicates 2 and 5 are gone"
            assert keys == {
                1: "youtube.com/watch?v=AAAAAAAAAAA", 3: "news.example/story-1", 4: "other.example/story-9",
                6: "dailymail.example/sport/article-9554407.html", 7: "swap.example/?p=1", 8: "swap.example/?p=2",
                9: None, 10: "plain.example/a",
            }  # fmt: skip
            assert all(keys[r.id] is None or keys[r.id] == url_key(conn.scalar(
                sa.text("SELECT url FROM items WHERE id = :i"), {"i": r.id})) for r in rows)  # fmt: skip
            sightings = conn.execute(sa.text("SELECT item_id, guid FROM sightings ORDER BY item_id, guid")).all()
            # The wrongly merged video keeps both sightings: its second article cannot be split back out.
            assert [(s.item_id, s.guid) for s in sightings] == [
                (1, "yt:video:AAAAAAAAAAA"), (1, "yt:video:BBBBBBBBBBB"), (3, "news-1"),
                (3, "tag:google.com,2013:googlealerts/feed:1"), (4, "other-9"), (6, "bing-1"), (6, "dm-1"),
            ]  # fmt: skip
            labels = conn.execute(sa.text("SELECT item_id, topic, value FROM labels ORDER BY topic")).all()
            # The newer answer wins a clash (cartels from 2, terror from 3); border moves over.
            assert [tuple(r) for r in labels] == [(3, "border", False), (3, "cartels", True), (3, "terror", True)]
            verdicts = conn.execute(sa.text("SELECT item_id, topic, score FROM item_topics ORDER BY topic")).all()
            assert [tuple(r) for r in verdicts] == [(3, "cartels", 0.9), (3, "terror", 0.7)]
            stories = {r.id: r for r in conn.execute(sa.text("SELECT * FROM stories"))}
            story_of = {r.id: r.story_id for r in rows}
            assert story_of[3] == 1 and story_of[6] == 3, "the kept item joins its duplicate's story"
            assert set(stories) == {1, 3}, "story 2 held only the Bing duplicate"
            assert stories[1].item_count == 2 and stories[1].first_item_id == 4  # first seen earliest
            assert stories[3].item_count == 1 and stories[3].first_item_id == 6
            # The search index lost the deleted copy and kept the others.
            assert _search(conn, "gazpachoword") == [] and _search(conn, "keeperword") == [3]
            if conn.dialect.name == "sqlite":
                conn.execute(sa.text("INSERT INTO items_fts(items_fts, rank) VALUES ('integrity-check', 1)"))
                assert conn.scalar(sa.text("SELECT count(*) FROM items_fts")) == len(rows)
        # Ingest now files the second video as an item of its own, and a tracked copy of the story with it.
        with db.session() as s:
            fresh = Entry(source_id="a", url="https://www.youtube.com/watch?v=CCCCCCCCCCC", title="C", guid="yt:C")
            copy = Entry(source_id="a", url="https://news.example/story-1/?fbclid=x", title="N", guid="news-1b")
            result = store_entries(s, "a", [fresh, copy], now=T0 + timedelta(days=5))
        assert result.new == 1 and result.duplicates == 1
    finally:
        db.close()


def _rekey_items() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_revision("0006").module.rekey_items


def test_migration_0006_on_an_empty_database_and_again(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0005")
            command.upgrade(cfg, "0006")
            assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == "0006"
            _insert(conn, "sources", id="a", name="a", kind="feed", url="https://a.example/feed", language="en",
                    tier="news", enabled=True, in_config=True, error_count=0)  # fmt: skip
            _item(conn, 1, "https://www.youtube.com/watch?v=AAAAAAAAAAA", "youtube.com/watch", T0)
            rekey = _rekey_items()
            assert rekey(conn) == (1, 0)
            # Run again on the same connection: its temporary table was dropped, and nothing is left to do.
            assert rekey(conn) == (0, 0)
            assert conn.scalar(sa.text("SELECT url_key FROM items")) == "youtube.com/watch?v=AAAAAAAAAAA"
    finally:
        engine.dispose()
