"""Every fetched feed body and article page kept as captured in WARC files: real crawls of a local server, read back
with warcio's own reader; edited pages keep both versions; rotation, retention, a full disk, the snapshot command
and the web app's safe view of a capture."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import SAWarning
from warcio.archiveiterator import ArchiveIterator

from aggregator.cli.main import cli
from aggregator.config.settings import CaptureSettings, Settings
from aggregator.models import Capture, Item
from aggregator.store.database import Database
from aggregator.store.warc import CAPTURE_DIR, payload_digest, read_record
from aggregator.trace.render import render_trace
from aggregator.trace.tracing import trace_text
from aggregator.web import create_app
from tests import feedgen
from tests.crawling import catalog, fast_settings, lines_by_source, run, source
from tests.httpserver import Reply, Request, TestServer
from tests.webserver import WebServer

PARAS = [
    "Soldiers and state police detained four men after a shootout near the highway to Caborca, officials said.",
    "The detainees were carrying rifles and radios, and investigators linked them to a faction fighting for "
    "control of smuggling routes toward the border with Arizona.",
    "Residents of the town said schools had closed for two days while patrols searched nearby ranches.",
]
HTML = "text/html; charset=utf-8"
REPO = Path(__file__).resolve().parents[1]


def with_capture(settings: Settings, **values: object) -> Settings:
    return settings.model_copy(update={"capture": CaptureSettings.model_validate(values)})


def records(data: Path) -> list[tuple[str, str, bytes]]:
    """(type, target URI, decoded body) of every record of every WARC file, read by warcio's ArchiveIterator."""
    found = []
    for path in sorted((data / CAPTURE_DIR).glob("*.warc.gz")):
        with open(path, "rb") as handle:
            for record in ArchiveIterator(handle):
                uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                found.append((record.rec_type, uri, record.content_stream().read()))
    return found


def served_ok(server: TestServer, prefix: str) -> int:
    """How many requests for paths under `prefix` the server answered (every route here answers 200)."""
    return sum(1 for r in server.log if r.path.startswith(prefix))


def serve_articles(server: TestServer, count: int) -> list[dict[str, Any]]:
    items = [feedgen.item(n, server.base) for n in range(1, count + 1)]
    for it in items:
        body = feedgen.article_page(it["title"], PARAS)
        server.add(it["link"].removeprefix(server.base), Reply(body=body, content_type=HTML))
    return items


def snapshot(tmp_path: Path, db_url: str, *args: str) -> Result:
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    (config / "settings.toml").write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    return CliRunner().invoke(cli, ["--config", str(config), "--db", db_url, "snapshot", *args])


def test_one_response_record_per_fetched_feed_and_page(tmp_path: Path, db_url: str, server: TestServer) -> None:
    items = serve_articles(server, 3)
    server.add("/feed", Reply(body=feedgen.rss20(items), etag=True))
    teasers = [feedgen.item(n, server.base + "/t") for n in range(10, 12)]
    server.add("/teasers", Reply(body=feedgen.rss20(teasers), content_type="application/rss+xml"))
    cat = catalog(source("full", server.url("/feed"), fulltext=True), source("plain", server.url("/teasers")))
    db = Database(db_url)
    settings = fast_settings(tmp_path)
    data = tmp_path / "data"
    lines = lines_by_source(run(db, settings, cat))
    assert lines["full"].new == 3 and lines["plain"].new == 2 and lines["full"].error is None

    found = records(data)
    responses = [(uri, body) for kind, uri, body in found if kind == "response"]
    served = served_ok(server, "/feed") + served_ok(server, "/teasers") + served_ok(server, "/articles/")
    assert served == 5 and len(responses) == served
    assert sum(1 for kind, _, _ in found if kind == "request") == served
    assert sorted(uri.removeprefix(server.base) for uri, _ in responses) == [
        "/articles/1.html", "/articles/2.html", "/articles/3.html", "/feed", "/teasers",
    ]  # fmt: skip
    assert dict(responses)[server.url("/feed")] == feedgen.rss20(items)  # the body as served, byte for byte

    with db.session() as s:
        rows = s.scalars(select(Capture).order_by(Capture.id)).all()
        assert sorted((r.kind, r.url.removeprefix(server.base)) for r in rows) == [
            ("feed", "/feed"), ("feed", "/teasers"),
            ("page", "/articles/1.html"), ("page", "/articles/2.html"), ("page", "/articles/3.html"),
        ]  # fmt: skip
        by_url = {i.url: i.id for i in s.scalars(select(Item))}
        for row in rows:
            assert row.captured_at.tzinfo is not None and row.error is None and row.http_status == 200
            assert row.warc_file and row.warc_file.startswith(f"{CAPTURE_DIR}/") and (data / row.warc_file).is_file()
            assert row.item_id == (by_url[row.url] if row.kind == "page" else None)
            assert row.offset is not None and row.length is not None
            back = read_record(data, row.warc_file, row.offset, row.length)
            assert back.url == row.url and back.status_line == "200 OK"
            assert row.digest == payload_digest(back.body)
            assert ("Content-Type", HTML if row.kind == "page" else "application/rss+xml") in back.headers

    # The ETag feed answers 304 and the other sends the same bytes: nothing new is captured.
    lines = lines_by_source(run(db, settings, cat, wanted=["full", "plain"]))
    assert lines["full"].outcome == "not_modified" and lines["plain"].outcome == "unchanged"
    assert len([r for r in records(data) if r[0] == "response"]) == 5
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Capture)) == 5
    db.close()


def test_an_edited_page_keeps_both_versions(tmp_path: Path, db_url: str, server: TestServer) -> None:
    version = {"n": 1}
    words = {1: "The first account said nine gunmen were detained near Caborca.",
             2: "A corrected account now says twelve gunmen were detained near Altar."}  # fmt: skip
    items = [feedgen.item(1, server.base)]

    def page(_req: Request) -> Reply:
        return Reply(body=feedgen.article_page(items[0]["title"], [words[version["n"]], *PARAS]), content_type=HTML)

    def feed(_req: Request) -> Reply:
        entry = dict(items[0], summary=f"<p>Teaser, version {version['n']}.</p>")
        return Reply(body=feedgen.rss20([entry]), content_type="application/rss+xml")

    server.add("/articles/1.html", page)
    server.add("/feed", feed)
    cat = catalog(source("full", server.url("/feed"), fulltext=True))
    db = Database(db_url)
    settings = fast_settings(tmp_path)
    run(db, settings, cat)
    version["n"] = 2  # the outlet edits the story, and its feed entry says so
    lines = lines_by_source(run(db, settings, cat, wanted=["full"]))
    assert lines["full"].updated == 1
    assert len(server.hits("/articles/1.html")) == 2  # the changed entry's page was read again

    with db.session() as s:
        item = s.scalars(select(Item)).one()
        assert "twelve gunmen" in item.text and "nine gunmen" not in item.text and item.updated_at is not None
        pages = s.scalars(select(Capture).where(Capture.kind == "page").order_by(Capture.captured_at)).all()
        assert [p.item_id for p in pages] == [item.id, item.id] and pages[0].digest != pages[1].digest
        item_id = item.id

    listing = snapshot(tmp_path, db_url, str(item_id))
    assert listing.exit_code == 0, listing.output
    assert "version 1" in listing.output and "version 2" in listing.output
    assert "edited: captured 2 versions, first on" in listing.output and ".warc.gz offset" in listing.output
    first = tmp_path / "first.html"
    result = snapshot(tmp_path, db_url, str(item_id), "--first", "--out", str(first))
    assert result.exit_code == 0, result.output
    assert "nine gunmen" in first.read_text(encoding="utf-8") and "twelve gunmen" not in first.read_text(
        encoding="utf-8"
    )
    latest = tmp_path / "latest.html"
    assert snapshot(tmp_path, db_url, str(item_id), "--out", str(latest)).exit_code == 0
    assert "twelve gunmen" in latest.read_text(encoding="utf-8")
    second = snapshot(tmp_path, db_url, str(item_id), "--version", "2", "--out", "-")
    assert second.exit_code == 0 and "twelve gunmen" in second.stdout
    beyond = snapshot(tmp_path, db_url, str(item_id), "--version", "3", "--out", str(latest))
    assert beyond.exit_code != 0 and "has 2 captured version(s), not 3" in str(beyond.exception)
    feed_body = tmp_path / "feed.xml"
    assert snapshot(tmp_path, db_url, str(item_id), "--feed", "--out", str(feed_body)).exit_code == 0
    assert b"Teaser, version 1." in feed_body.read_bytes()  # the feed as it was when the item was first seen

    # A trace result links the first capture: what the outlet said when the claim's item was first fetched.
    with db.session() as s:
        traced = trace_text(s, "Soldiers detained gunmen after a shootout near the highway to Caborca.", cat.sources)
        first_capture = s.scalars(select(Capture).where(Capture.kind == "page").order_by(Capture.captured_at)).first()
    match = next(m for c in traced.claims for m in c.matches if m.item_id == item_id)
    assert first_capture is not None and match.capture_url == f"/captures/{first_capture.id}"
    assert match.captured_at == first_capture.captured_at
    assert "as captured on" in render_trace(traced, "text", settings.zone)
    db.close()


def test_files_rotate_by_size_and_stay_readable(tmp_path: Path, sqlite_url: str, server: TestServer) -> None:
    items = serve_articles(server, 6)
    server.add("/feed", Reply(body=feedgen.rss20(items)))
    db = Database(sqlite_url)
    settings = with_capture(fast_settings(tmp_path), max_file_mb=0.002)  # about 2 KB: two or three records a file
    run(db, settings, catalog(source("full", server.url("/feed"), fulltext=True)))
    files = sorted((tmp_path / "data" / CAPTURE_DIR).glob("*.warc.gz"))
    assert len(files) >= 3
    assert all(path.stat().st_size < 2 * 2048 for path in files)
    assert len([r for r in records(tmp_path / "data") if r[0] == "response"]) == 7
    with db.session() as s:
        rows = s.scalars(select(Capture)).all()
        assert len({r.warc_file for r in rows}) >= 3
        for row in rows:
            assert row.warc_file and row.offset is not None and row.length is not None
            assert read_record(tmp_path / "data", row.warc_file, row.offset, row.length).url == row.url
    db.close()


def test_retention_removes_old_files_and_says_so(tmp_path: Path, sqlite_url: str, server: TestServer) -> None:
    items = serve_articles(server, 2)
    server.add("/feed", lambda _r: Reply(body=feedgen.rss20(items, title=f"Feed at {time.time()}")))
    db = Database(sqlite_url)
    cat = catalog(source("full", server.url("/feed"), fulltext=True))
    run(db, fast_settings(tmp_path), cat)
    directory = tmp_path / "data" / CAPTURE_DIR
    old = sorted(directory.glob("*.warc.gz"))
    month_ago = time.time() - 30 * 86400
    for path in old:
        os.utime(path, (month_ago, month_ago))
    run(db, with_capture(fast_settings(tmp_path), keep_days=7), cat, wanted=["full"])
    now = sorted(directory.glob("*.warc.gz"))
    assert old and not set(old) & set(now) and len(now) == 1  # the new crawl's file only
    with db.session() as s:
        rows = s.scalars(select(Capture).order_by(Capture.id)).all()
        removed = [r for r in rows if r.warc_file is None]
        assert len(removed) == 3 and all("removed by retention" in (r.error or "") for r in removed)
        assert [r.kind for r in rows if r.warc_file] == ["feed"]  # the pages were not fetched again
        item_id = s.scalars(select(Item.id).order_by(Item.id)).first()
    shown = snapshot(tmp_path, sqlite_url, str(item_id), "--first", "--out", str(tmp_path / "x.html"))
    assert shown.exit_code != 0 and "removed by retention" in str(shown.exception)

    # A size budget: the oldest files go first, until the rest fit (the file being written always stays).
    run(db, with_capture(fast_settings(tmp_path), max_total_mb=0.000001), cat, wanted=["full"])
    assert len(list(directory.glob("*.warc.gz"))) == 1
    db.close()


def test_capture_disabled_writes_nothing(tmp_path: Path, db_url: str, server: TestServer) -> None:
    items = serve_articles(server, 2)
    server.add("/feed", Reply(body=feedgen.rss20(items)))
    db = Database(db_url)
    lines = lines_by_source(
        run(
            db,
            with_capture(fast_settings(tmp_path), enabled=False),
            catalog(source("f", server.url("/feed"), fulltext=True)),
        )
    )
    assert lines["f"].new == 2 and served_ok(server, "/articles/") == 2
    assert not (tmp_path / "data" / CAPTURE_DIR).exists()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Capture)) == 0
    db.close()


def test_hostile_capture_is_served_as_inert_text(tmp_path: Path, sqlite_url: str, server: TestServer) -> None:
    hostile = (
        "<script>document.title='owned';fetch('/api/items')</script><img src=x onerror=alert(1)>"
        "<meta http-equiv=refresh content='0;url=http://evil.example/'>\x1b[2J"
    )
    items = [feedgen.item(1, server.base)]
    page = feedgen.article_page(items[0]["title"], PARAS).replace(b"</body>", hostile.encode() + b"</body>")
    server.add("/articles/1.html", Reply(body=page, content_type=HTML))
    server.add("/feed", Reply(body=feedgen.rss20(items)))
    db = Database(sqlite_url)
    settings = fast_settings(tmp_path)
    run(db, settings, catalog(source("full", server.url("/feed"), fulltext=True)))
    with db.session() as s:
        item_id = s.scalars(select(Item.id)).one()
        page_id = s.scalars(select(Capture.id).where(Capture.kind == "page")).one()
    db.close()
    settings.config_dir.mkdir(exist_ok=True)
    shutil.copy(REPO / "config" / "topics.toml", settings.config_dir / "topics.toml")
    with WebServer(create_app(settings, sqlite_url)) as srv, httpx.Client(base_url=srv.origin) as client:
        item_page = client.get(f"/items/{item_id}")
        assert item_page.status_code == 200
        assert f'href="/captures/{page_id}"' in item_page.text and "as captured on" in item_page.text
        shown = client.get(f"/captures/{page_id}")
        assert shown.status_code == 200
        assert shown.headers["content-type"] == "text/plain; charset=utf-8"
        assert shown.headers["x-content-type-options"] == "nosniff"
        csp = shown.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "sandbox" in csp and "script-src" not in csp
        assert "<script>document.title='owned'" in shown.text  # shown as text, not run
        assert "\x1b" not in shown.text and "\\x1b[2J" in shown.text
        assert client.get("/captures/999999").status_code == 404


FULL_DISK_CRAWL = """
import json, sys
from pathlib import Path
from aggregator.spiders.process import crawl_sources
from aggregator.store.database import Database
from tests.crawling import catalog, fast_settings, source
tmp, url, db_url = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
cat = catalog(source("big", url + "/big"), source("pages", url + "/feed", fulltext=True))
db = Database(db_url, migrate_schema=False)
outcome = crawl_sources(db, fast_settings(tmp), cat, extra_scrapy_settings={"RETRY_BACKOFF_BASE": 0.05})
lines = [[line.source_id, line.outcome, line.new, line.error] for line in outcome.lines]
print(json.dumps({"code": outcome.exit_code, "lines": lines}))
"""
# The crawl runs in a mount namespace of its own where data/captures is a 64 KB tmpfs: a real full disk (ENOSPC)
# that no other process sees. What the tmpfs held is copied out before the namespace ends.
IN_FULL_DISK = (
    'mount -t tmpfs -o size=64k tmpfs "$1/captures" && "$2" -c "$3" "$4" "$5" "$6"; code=$?; '
    'cp -a "$1/captures/." "$1/kept/"; exit $code'
)


def test_a_full_disk_loses_no_item(tmp_path: Path, db_url: str, server: TestServer) -> None:
    data = tmp_path / "data"
    (data / CAPTURE_DIR).mkdir(parents=True)
    (data / "kept").mkdir()
    if (
        shutil.which("unshare") is None
        or subprocess.run(
            ["unshare", "--mount", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {data / CAPTURE_DIR}"],
            capture_output=True,
        ).returncode
    ):
        pytest.skip("needs unshare(1) and the right to mount a tmpfs in a private mount namespace")
    junk = base64.b64encode(os.urandom(256 * 1024))  # gzip cannot shrink it below the 64 KB the disk has
    items = [feedgen.item(n, server.base) for n in range(1, 3)]
    for it in items:
        page = feedgen.article_page(it["title"], PARAS).replace(b"</body>", b"<!-- " + junk + b" --></body>")
        server.add(it["link"].removeprefix(server.base), Reply(body=page, content_type=HTML))
    server.add("/feed", Reply(body=feedgen.rss20(items)))
    big = [feedgen.item(n, server.base + "/b") for n in range(10, 12)]
    server.add("/big", Reply(body=feedgen.rss20(big).replace(b"<channel>", b"<channel><!-- " + junk + b" -->")))
    Database(db_url).close()  # migrated here, before the crawl

    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", IN_FULL_DISK, "sh", str(data), sys.executable, FULL_DISK_CRAWL,
         str(tmp_path), server.base, db_url],
        capture_output=True, text=True, cwd=REPO, timeout=240, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    lines = {sid: (outcome, new, error) for sid, outcome, new, error in result["lines"]}
    assert lines["big"][:2] == ("ok", 2) and lines["pages"][:2] == ("ok", 2)
    assert lines["big"][2].startswith("warning: capture: cannot write captures/capture-")
    assert "No space left on device (ENOSPC)" in lines["big"][2] and "stored without its capture" in lines["big"][2]
    assert lines["pages"][2] is None  # its small feed was captured

    db = Database(db_url)
    with db.session() as s:
        stored = s.scalars(select(Item).order_by(Item.id)).all()
        assert len(stored) == 4  # every item is stored, the pages' text too
        assert all("Caborca" in i.text and i.fulltext_state == "done" for i in stored if i.source_id == "pages")
        rows = s.scalars(select(Capture)).all()
        failed = sorted((r for r in rows if r.error), key=lambda r: (r.kind, r.url))
        assert [(r.kind, r.source_id) for r in failed] == [("feed", "big"), ("page", "pages"), ("page", "pages")]
        assert all(r.warc_file is None and "ENOSPC" in (r.error or "") for r in failed)
        assert [(r.kind, r.source_id) for r in rows if not r.error] == [("feed", "pages")]
        page_item = next(i.id for i in stored if i.source_id == "pages")
    db.close()
    # The failed writes were cut off the file again: warcio reads it whole, the one good capture in it.
    kept = sorted((data / "kept").glob("*.warc.gz"))
    assert len(kept) == 1
    with open(kept[0], "rb") as handle:
        found = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI")) for r in ArchiveIterator(handle)]
    assert [uri for kind, uri in found if kind == "response"] == [server.url("/feed")]
    listing = snapshot(tmp_path, db_url, str(page_item))
    assert listing.exit_code == 0 and "not captured" in listing.output and "ENOSPC" in listing.output


def test_migration_0011_matches_the_model_and_goes_both_ways(db_url: str) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    from aggregator.models import Base
    from aggregator.store.database import migrate

    db = Database(db_url)
    config = Config()
    config.set_main_option("script_location", "aggregator.models:migrations")
    with db.engine.connect() as conn, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # SQLite's expression index on items, not reflected
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert not [d for d in diff if "captures" in repr(d)], diff
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0010")
    assert "captures" not in inspect(db.engine).get_table_names()
    migrate(db.engine)
    assert "captures" in inspect(db.engine).get_table_names()
    db.close()
