"""Every real publisher feed crawled in one run through `aggregator crawl`: each keeps one item per distinct link."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import feedparser
import pytest

from aggregator.config.settings import CrawlSettings
from tests.crawling import source
from tests.httpserver import Reply, TestServer
from tests.shared_fixtures import fixtures_root

ROOT = fixtures_root()
REAL = ROOT / "real-feeds" if ROOT is not None else None
if REAL is None or not REAL.is_dir():
    pytest.skip("shared fixtures real-feeds not found (set AGGREGATOR_SHARED_FIXTURES)", allow_module_level=True)
assert REAL is not None
pytestmark = pytest.mark.filterwarnings("ignore:To avoid breaking existing software:DeprecationWarning")
FILES = sorted(p.name for p in REAL.iterdir() if p.is_file() and p.suffix != ".md")
CONTENT_TYPES = {".xml": "application/xml", ".rdf": "application/rdf+xml", ".json": "application/feed+json"}
# Feeds whose stored count differs from the independent reader's: file -> (items stored, why).
KNOWN_DIFFERENCES: dict[str, tuple[int, str]] = {}


def _source_id(name: str) -> str:
    return Path(name).stem.lower()


def _agg(config: Path, db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(config), "--db", db, *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def expected_items(body: bytes, feed_url: str, json_feed: bool = False) -> int:
    """Items the feed should leave: one per distinct link, as feedparser reads the bytes (the JSON module for a
    JSON Feed, which feedparser 6 does not read), relative links resolved against the feed's URL.

    An entry without a link is stored as an item of its own, keyed by its guid within the source (ingest gives it
    no URL key), so each distinct guid of those counts once; entries with no title, summary or content are not
    entries (neither the parser nor feedparser's readers would show them).
    """
    if json_feed:
        items = [i for i in json.loads(body).get("items", []) if isinstance(i, dict)]
        links = {urljoin(feed_url, link) for i in items if (link := i.get("url") or i.get("external_url"))}
        linkless = {str(i.get("id")) for i in items if not (i.get("url") or i.get("external_url"))}
        return len(links) + len(linkless)
    entries = feedparser.parse(body, response_headers={"content-location": feed_url}).entries
    with_text = [e for e in entries if e.get("title") or e.get("summary") or e.get("content")]
    links = {e.link for e in with_text if e.get("link")}
    linkless = {e.get("id") or (e.get("title"), e.get("summary")) for e in with_text if not e.get("link")}
    return len(links) + len(linkless)


def _write_config(config: Path, server: TestServer) -> None:
    config.mkdir()
    crawl = 'download_delay = 0\nautothrottle = false\nconcurrent_per_host = 8\ntimeout = "20s"\nretry_times = 1\n'
    # The crawler refuses loopback addresses unless allowed; written only where the settings know the key, so the
    # test runs the same before and after that refusal.
    if "allow_networks" in CrawlSettings.model_fields:
        crawl += 'allow_networks = ["127.0.0.1/32"]\n'
    (config / "settings.toml").write_text('data_dir = "data"\n[crawl]\n' + crawl)
    (config / "sources.toml").write_text("".join(source(_source_id(n), server.url(f"/feeds/{n}")) for n in FILES))


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Crawl all feeds into one SQLite database; the exported items, and what each feed should have left."""
    tmp = tmp_path_factory.mktemp("real-feeds")
    with TestServer() as server:
        expected: dict[str, int] = {}
        for name in FILES:
            body = (REAL / name).read_bytes()
            server.add(f"/feeds/{name}", Reply(body=body, content_type=CONTENT_TYPES[Path(name).suffix]))
            expected[_source_id(name)] = expected_items(body, server.url(f"/feeds/{name}"), name.endswith(".json"))
        _write_config(tmp / "config", server)
        db = f"sqlite:///{tmp / 'feeds.sqlite'}"
        crawl = _agg(tmp / "config", db, "crawl")
        assert crawl.returncode == 0, crawl.stderr
        fetched = {r.path.split("/")[-1] for r in server.log if r.path.startswith("/feeds/")}
        assert fetched == set(FILES), f"not fetched: {set(FILES) - fetched}"
    export = _agg(tmp / "config", db, "export", "--format", "jsonl")
    assert export.returncode == 0, export.stderr
    rows = [json.loads(line) for line in export.stdout.splitlines()]
    return {"rows": rows, "expected": expected, "config": tmp / "config", "db": db, "base": server.base}


def test_each_feed_keeps_one_item_per_distinct_link(crawled: dict[str, Any]) -> None:
    stored = Counter(sid for row in crawled["rows"] for sid in row["sources"])
    expected: dict[str, int] = crawled["expected"]
    print(
        f"\nreal feeds: {sum(stored.values())} of {sum(expected.values())} distinct links kept as items "
        f"({len(crawled['rows'])} items in all)"
    )
    differing = {sid: (stored[sid], want) for sid, want in expected.items() if stored[sid] != want}
    known = {_source_id(name): (count, expected[_source_id(name)]) for name, (count, _) in KNOWN_DIFFERENCES.items()}
    assert differing == known, "feed: (stored, distinct links)\n" + "\n".join(
        f"  {sid}: {got}" for sid, got in sorted(differing.items())
    )
    assert sum(expected.values()) >= 962  # the reader still finds every link of the 49 feeds


def test_redirector_links_are_stored_as_published(crawled: dict[str, Any]) -> None:
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in crawled["rows"]:
        for sid in row["sources"]:
            by_source.setdefault(sid, []).append(row)
    alerts = by_source["google-alerts-1"]
    assert len(alerts) == 20 and all(r["url"].startswith("https://www.google.com/url?") for r in alerts)
    assert len({r["url"] for r in by_source["youtube-1"]}) == 14
    wapo = [r["url"] for r in by_source["washingtonpost-1"]]
    assert sum(u.startswith("http://feeds.washingtonpost.com/click.phdo?i=") for u in wapo) == 26


def test_every_real_feed_is_captured_byte_for_byte_and_its_items_point_at_it(crawled: dict[str, Any]) -> None:
    """The WARC files, read by warcio's own reader, hold one response per feed fetched, each the fixture's exact
    bytes; `aggregator snapshot --feed` of an item of each feed writes those bytes back."""
    from warcio.archiveiterator import ArchiveIterator

    from aggregator.store.warc import CAPTURE_DIR

    config: Path = crawled["config"]
    responses: dict[str, bytes] = {}
    for path in sorted((config.parent / "data" / CAPTURE_DIR).glob("*.warc.gz")):
        with open(path, "rb") as handle:
            for record in ArchiveIterator(handle):
                if record.rec_type == "response":
                    uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                    assert uri not in responses, f"{uri} captured twice"
                    responses[uri] = record.content_stream().read()
    base = crawled["base"]
    assert set(responses) == {f"{base}/feeds/{name}" for name in FILES}
    differ = [name for name in FILES if responses[f"{base}/feeds/{name}"] != (REAL / name).read_bytes()]
    assert differ == [], f"captured bytes differ from the file served: {differ}"
    first_item = {}
    for row in crawled["rows"]:
        first_item.setdefault(row["source_id"], row["id"])
    checked = 0
    for name in FILES[::7]:  # every seventh feed: each snapshot is a process start
        item_id = first_item.get(_source_id(name))
        if item_id is None:
            continue
        out = config.parent / f"snapshot-{_source_id(name)}"
        shown = _agg(config, crawled["db"], "snapshot", str(item_id), "--feed", "--out", str(out))
        assert shown.returncode == 0, shown.stderr
        assert out.read_bytes() == (REAL / name).read_bytes(), name
        checked += 1
    assert checked >= 5
