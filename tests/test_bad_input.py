"""Every kind of bad input gets a clear, stored error and costs nothing else: the other sources complete."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from aggregator.crawl.health import source_health
from aggregator.models import Item, Source
from aggregator.store.database import Database
from tests import feedgen
from tests.crawling import catalog, fast_settings, lines_by_source, run, source
from tests.httpserver import Reply, TestServer

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
]>
<rss version="2.0"><channel><title>Bomb</title><item><title>&f;</title><link>http://x.invalid/1</link>
<description>&f;</description></item></channel></rss>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>XXE</title><item><title>Leak &secret;</title>
<link>http://x.invalid/xxe</link><description>before &secret; after</description></item></channel></rss>"""


def _flood(total: int) -> object:
    chunk = b"<!-- " + b"x" * (1024 * 1024 - 10) + b" -->\n"
    return itertools.islice(itertools.repeat(chunk), total // len(chunk) + 1)


def _trickle() -> object:
    yield b'<?xml version="1.0"?><rss version="2.0"><channel>'
    for _ in range(200):
        yield b" "


def test_bad_sources_fail_alone_with_clear_errors(tmp_path: Path, sqlite_url: str, server: TestServer) -> None:
    base = server.base
    now = datetime.now(UTC)
    good = [feedgen.item(n, base + "/good") for n in range(1, 4)]
    server.add("/good", Reply(body=feedgen.rss20(good)))
    broken = feedgen.rss20([feedgen.item(1, base + "/broken", title="Tom & Jerry <b>unclosed")]).replace(
        b"Tom &amp; Jerry &lt;b&gt;unclosed", b"Tom & Jerry <b>unclosed"
    )
    server.add("/malformed", Reply(body=broken))
    server.add("/garbage", Reply(body=bytes(range(256)) * 40, content_type="application/octet-stream"))
    server.add(
        "/html",
        Reply(
            body=b'<!doctype html><html><head><link rel="alternate" type="application/rss+xml" '
            b'href="/real-feed.xml"></head><body>Welcome</body></html>',
            content_type="text/html",
        ),
    )
    server.add("/bomb", Reply(body=BOMB))
    server.add("/xxe", Reply(body=XXE))
    server.add("/huge-declared", Reply(body=_flood(200 * 1024 * 1024), length=200 * 1024 * 1024))  # type: ignore[arg-type]
    server.add("/huge-stream", Reply(body=_flood(200 * 1024 * 1024)))  # type: ignore[arg-type]
    server.add("/hang", Reply(status=-1))
    server.add("/trickle", Reply(body=_trickle(), chunk_delay=0.5))  # type: ignore[arg-type]
    server.add("/loop-a", Reply(status=302, headers={"Location": "/loop-b"}, content_type=None))
    server.add("/loop-b", Reply(status=302, headers={"Location": "/loop-a"}, content_type=None))
    server.add("/missing", Reply(status=404, body=b"no"))
    server.add("/error500", Reply(status=500, body=b"oops"))
    server.add("/limited", Reply(status=429, body=b"slow down", headers={"Retry-After": "3600"}))
    nolinks = [{"title": f"Bulletin {n}", "summary": f"<p>Bulletin number {n}</p>", "guid": f"b{n}"} for n in range(2)]
    server.add("/nolinks", Reply(body=feedgen.rss20(nolinks)))
    dupes = [
        feedgen.item(1, base + "/d"),
        feedgen.item(1, base + "/d", title="Same guid again"),
        feedgen.item(2, base + "/d"),
    ]
    server.add("/dupes", Reply(body=feedgen.rss20(dupes)))
    dated = [
        feedgen.item(1, base + "/t", date=None),
        feedgen.item(2, base + "/t", date=now + timedelta(days=400)),
        feedgen.item(3, base + "/t", date=now + timedelta(hours=12)),
    ]
    server.add("/dates", Reply(body=feedgen.rss20(dated)))
    wrong = feedgen.rss20([feedgen.item(1, base + "/w", title="Caf\u00e9 y se\u00f1ales")], encoding="cp1252")
    server.add("/wrong-encoding", Reply(body=wrong.replace(b'encoding="cp1252"', b'encoding="utf-8"')))
    server.add("/empty", Reply(body=b""))

    names = [
        "good",
        "malformed",
        "garbage",
        "html",
        "bomb",
        "xxe",
        "huge-declared",
        "huge-stream",
        "hang",
        "trickle",
        "loop-a",
        "missing",
        "error500",
        "limited",
        "nolinks",
        "dupes",
        "dates",
        "wrong-encoding",
        "empty",
    ]
    tables = [source(n, server.url("/" + n)) for n in names]
    tables.append(source("refused", "http://127.0.0.1:9/feed"))
    cat = catalog(*tables)
    db = Database(sqlite_url)
    started = time.monotonic()
    lines = lines_by_source(run(db, fast_settings(tmp_path), cat))
    elapsed = time.monotonic() - started
    assert elapsed < 60
    assert set(lines) == set(names) | {"refused"}

    def err(sid: str) -> str:
        assert lines[sid].outcome == "error", (sid, lines[sid])
        return lines[sid].error or ""

    assert lines["good"].outcome == "ok" and lines["good"].new == 3
    assert lines["malformed"].outcome == "ok" and lines["malformed"].new == 1
    assert "not a feed" in err("garbage")
    assert "HTML page" in err("html") and "/real-feed.xml" in err("html")
    assert "larger than" in err("huge-declared") and "larger than" in err("huge-stream")
    assert "timed out" in err("hang") and "timed out" in err("trickle")
    assert "redirect" in err("loop-a")
    assert err("missing") == "fetch: HTTP 404 Not Found"
    assert err("error500") == "fetch: HTTP 500 Internal Server Error"
    assert len(server.hits("/error500")) == 2  # retried once (retry_times = 1), then given up
    assert "429" in err("limited") and len(server.hits("/limited")) == 1  # never hammered
    assert "connection refused" in err("refused")
    assert "empty" in err("empty")
    assert lines["nolinks"].new == 2
    assert lines["dupes"].new == 2 and lines["dupes"].duplicates == 1
    assert lines["dates"].new == 3

    with db.session() as s:
        texts = [f"{i.title} {i.summary} {i.text}" for i in s.scalars(select(Item))]
        assert not any("root:" in t for t in texts)  # external entities are never resolved
        assert max(len(t) for t in texts) < 100_000  # entity expansion never reached storage
        nolink = s.scalars(select(Item).where(Item.source_id == "nolinks")).all()
        assert all(i.url == server.url("/nolinks") and i.url_key is None for i in nolink)
        by_title = {i.title: i for i in s.scalars(select(Item).where(Item.source_id == "dates"))}
        undated = next(i for t, i in by_title.items() if t.startswith("Item 1"))
        future = next(i for t, i in by_title.items() if t.startswith("Item 2"))
        assert undated.published_at is None
        # More than a day ahead is implausible: dropped, with a note in the provenance (#11).
        assert future.published_at is None
        assert any("more than a day after the fetch" in note for note in future.raw["notes"])
        soon = next(i for t, i in by_title.items() if t.startswith("Item 3"))  # hours ahead: clock skew, clamped
        assert soon.published_at is not None and soon.published_at <= datetime.now(UTC)
        assert "future_date_clamped" in soon.raw
        wrong_item = s.scalars(select(Item).where(Item.source_id == "wrong-encoding")).one()
        assert "Caf" in wrong_item.title and "\ufffd" not in wrong_item.title
        limited = s.get(Source, "limited")
        assert limited is not None and limited.next_check_at is not None
        assert limited.next_check_at >= datetime.now(UTC) + timedelta(seconds=3000)
        health = {h.source_id: h for h in source_health(s, datetime.now(UTC))}
    assert health["missing"].status == "failing" and health["missing"].error_streak == 1
    assert health["good"].status == "ok" and health["good"].items_7d == 3

    # The failing sources fail again: the streak grows and they wait longer; the good one is untouched.
    with db.session() as s:
        first_wait = s.get(Source, "missing").next_check_at  # type: ignore[union-attr]
    lines2 = lines_by_source(run(db, fast_settings(tmp_path), cat, wanted=["missing", "good"]))
    assert lines2["missing"].outcome == "error" and lines2["good"].outcome == "unchanged"
    with db.session() as s:
        missing = s.get(Source, "missing")
        assert missing is not None and missing.error_count == 2 and missing.next_check_at > first_wait
        assert s.scalar(select(func.count()).select_from(Item).where(Item.source_id == "good")) == 3
    db.close()
