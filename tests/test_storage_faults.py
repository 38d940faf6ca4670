"""Storage faults: text the databases refuse, errors that must be one line, a read-only database, racing migrations."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, make_url, select, text

from aggregator.crawl.state import sync_sources
from aggregator.models import Item, Sighting, Source
from aggregator.models.base import Base
from aggregator.parse.entry import Article, Entry
from aggregator.store.database import Database, error_line
from aggregator.store.ingest import mark_fulltext_failed, store_article, store_entries
from tests import feedgen
from tests.crawling import catalog, fast_settings, lines_by_source, run, source
from tests.httpserver import Reply, TestServer

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# Every character a text column must never hold: NUL, the other C0 controls but tab/newline/CR, DEL, C1, surrogates.
FORBIDDEN = {chr(c) for c in [*range(0x20), *range(0x7F, 0xA0), *range(0xD800, 0xE000)]} - set("\t\n\r")
DIRTY = "Sei\x00zure\x07 at\x0cNogales\x1b,\x7f\x92\ud800 tab\tnew\nreturn\r ñandú 😀 a\u200db\x85end"
CLEAN = "Seizure at Nogales, tab\tnew\nreturn\r ñandú 😀 a\u200db end"


def _texts(value: Any) -> list[str]:
    """Every string inside a stored value (JSON columns included)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in (*_texts(k), *_texts(v))]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _texts(v)]
    return []


def _assert_storable(*values: Any) -> None:
    for value in values:
        for found in _texts(value):
            bad = sorted({hex(ord(c)) for c in found if c in FORBIDDEN})
            assert not bad, f"{found!r} holds {bad}"


# Each process imports everything first, says "ready", then opens the database when told to, so that all of
# them run their migration check at the same moment.
_OPENER = """
import sys
from aggregator.store.database import Database
print("ready", flush=True)
sys.stdin.readline()
Database(sys.argv[1]).close()
"""
OPENERS = 6


def _open_all_at_once(url: str) -> list[subprocess.CompletedProcess[str]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(OPENERS)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def _schema_at_head(url: str) -> None:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from aggregator.store.database import _alembic_config

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == head
            tables = set(inspect(conn).get_table_names())
        assert set(Base.metadata.tables) <= tables, set(Base.metadata.tables) - tables
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
def test_processes_opening_a_fresh_database_at_once_all_succeed(db_url: str, attempt: int) -> None:
    """Six processes migrate one fresh database at the same moment; none fails and the schema ends at head."""
    results = _open_all_at_once(db_url)
    failures = [r.stderr.strip().splitlines()[-1] for r in results if r.returncode != 0]
    assert not failures, failures
    _schema_at_head(db_url)


@pytest.fixture
def seeded(db: Database) -> Database:
    with db.session() as session:
        sync_sources(session, catalog(source("a", "https://a.example/feed")))
    return db


def test_no_entry_field_brings_control_characters_into_the_database(seeded: Database) -> None:
    """NUL (which PostgreSQL refuses, losing the whole batch) and the other invisible controls are dropped from
    every text of an entry, on both backends; tab, newline, carriage return and printable Unicode stay."""
    entry = Entry(
        source_id="a",
        url="https://a.example/news/\x00one",
        title=DIRTY,
        guid="guid\x00-1",
        summary_html=f"<p>{DIRTY}</p>",
        text=DIRTY * 2,
        authors=("Ana\x00 María", "Luis\x1b"),
        language="es",
        canonical_url="https://a.example/news/one\x07",
        published_at=NOW,
        raw={"feed_url": "https://a.example/feed\x00", "tags\x00": ["x\x00y", {"deep": "v\ud800"}], "count": 3},
    )
    with seeded.session() as session:
        result = store_entries(session, "a", [entry], now=NOW)
    assert result.new == 1
    with seeded.session() as session:
        item = session.scalars(select(Item)).one()
        sighting = session.scalars(select(Sighting)).one()
        assert item.title == CLEAN
        assert item.text == CLEAN * 2
        assert CLEAN.replace("\r", "").split() == item.summary_text.split()
        assert item.authors == "Ana María; Luis"
        assert item.url == "https://a.example/news/one" and item.canonical_url == "https://a.example/news/one"
        assert item.raw["tags"] == ["xy", {"deep": "v"}] and item.raw["count"] == 3
        _assert_storable(item.title, item.summary, item.summary_text, item.text, item.authors, item.url, item.guid)
        _assert_storable(item.canonical_url, item.raw, sighting.guid, sighting.url)


def test_article_text_and_fetch_errors_are_stored_without_control_characters(seeded: Database) -> None:
    with seeded.session() as session:
        (item_id,) = store_entries(
            session, "a", [Entry(source_id="a", url="https://a.example/2", title="Two", published_at=NOW)], now=NOW
        ).new_ids
        article = Article(url="https://a.example/2", text=DIRTY * 3, authors=("Eva\x00",), title="T\x00")
        assert store_article(session, item_id, article, now=NOW) == item_id
        mark_fulltext_failed(session, item_id, "fetch: HTTP 500 \x00\x1b[31mred", max_attempts=3, now=NOW)
    with seeded.session() as session:
        item = session.get(Item, item_id)
        assert item is not None
        assert item.text == CLEAN * 3 and item.authors == "Eva"
        assert item.fulltext_error == "fetch: HTTP 500 [31mred"


def test_database_errors_are_one_line_without_the_statement_or_its_values(db: Database) -> None:
    """What goes into `last_error`: the database's own reason, not the SQL and every bound value (a whole article)."""
    with pytest.raises(Exception) as caught:
        with db.session() as session:
            session.execute(text("INSERT INTO no_such_table (body) VALUES (:body)"), {"body": "secret article text"})
    line = error_line(caught.value)
    assert "\n" not in line and len(line) <= 300
    assert "no_such_table" in line  # the reason is kept...
    assert "INSERT" not in line and "secret article text" not in line and "sqlalche.me" not in line  # ...not the rest
    assert error_line(ValueError("first\nsecond")) == "ValueError: first"
    assert len(error_line(RuntimeError("x" * 1000))) == 300


def _nul_feed(server: TestServer) -> str:
    items = [feedgen.item(n, server.base, title=f"Item {n}: arrests\x00 in Sonora\x07") for n in range(3)]
    body = feedgen.rss20(items)
    assert b"\x00" in body
    return server.add("/nul", Reply(body=body))


def test_a_feed_with_nul_bytes_is_stored_on_every_backend(seeded: Database, server: TestServer, tmp_path: Path) -> None:
    cat = catalog(source("a", _nul_feed(server)))
    outcome = run(seeded, fast_settings(tmp_path), cat)
    line = lines_by_source(outcome)["a"]
    assert (line.outcome, line.new) == ("ok", 3), line.error
    assert outcome.unstored == {} and outcome.failed == []
    with seeded.session() as session:
        titles = sorted(session.scalars(select(Item.title)))
        src = session.get(Source, "a")
        assert src is not None and src.last_error is None and src.error_count == 0
    assert titles == [f"Item {n}: arrests in Sonora" for n in range(3)]


def _refuse_items(db: Database) -> None:
    """A trigger that makes every item insert fail with a database error, as a full disk or a bad value would."""
    with db.engine.begin() as conn:
        if db.dialect == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_items BEFORE INSERT ON items "
                    "BEGIN SELECT RAISE(ABORT, 'items are refused today'); END"
                )
            )
            return
        conn.execute(
            text(
                "CREATE FUNCTION refuse_items() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'items are refused today' USING DETAIL = 'second line'; END $$"
            )
        )
        conn.execute(
            text("CREATE TRIGGER refuse_items BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION refuse_items()")
        )


def test_a_store_failure_is_an_error_of_its_source_in_one_line(
    seeded: Database, server: TestServer, tmp_path: Path
) -> None:
    server.add("/ok", Reply(body=feedgen.rss20([feedgen.item(n, server.base + "/ok") for n in range(3)])))
    cat = catalog(source("a", server.url("/ok")))
    _refuse_items(seeded)
    outcome = run(seeded, fast_settings(tmp_path), cat)
    line = lines_by_source(outcome)["a"]
    assert line.outcome == "error"
    assert outcome.failed == ["a"] and set(outcome.unstored) == {"a"}
    with seeded.session() as session:
        src = session.get(Source, "a")
        assert src is not None and src.error_count == 1 and src.last_error is not None
        recorded = src.last_error
    for message in (recorded, line.error, outcome.unstored["a"]):
        assert message is not None and message.startswith("store: ") and "items are refused today" in message
        assert "\n" not in message and "INSERT" not in message and "second line" not in message, message
        assert len(message) < 400


def _read_only(url: str) -> str:
    """The same database, opened so that every write fails (a read-only file, a read-only PostgreSQL database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:///file:{parsed.database}?mode=ro&uri=true"
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{parsed.database}" SET default_transaction_read_only = on'))
    admin.dispose()
    return url


def test_a_read_only_database_makes_every_source_an_error(seeded: Database, server: TestServer, tmp_path: Path) -> None:
    """Nothing can be stored: each source is an error, named, even though the database could not record that."""
    server.add("/ok", Reply(body=feedgen.rss20([feedgen.item(n, server.base + "/ok") for n in range(3)])))
    cat = catalog(source("a", server.url("/ok")))
    with seeded.session() as session:
        sync_sources(session, cat)  # the crawl's own sync then has nothing to write
    url = _read_only(seeded.url)
    read_only = Database(url)
    try:
        outcome = run(read_only, fast_settings(tmp_path), cat, wanted=["a"])
    finally:
        read_only.close()
    assert outcome.planned == 1 and outcome.not_reached == []
    assert outcome.failed == ["a"]
    line = lines_by_source(outcome)["a"]
    assert line.outcome == "error" and line.new == 0
    assert "read" in outcome.unstored["a"].lower() and "\n" not in outcome.unstored["a"]
    assert json.dumps(outcome.unstored)  # plain data, for the CLI and the scheduler to print
