"""What storing tags costs: insert_rows stores what SQLAlchemy's executemany stores, on SQLite and PostgreSQL, and
refuses a short row; item_topics keeps one index per need (migration 0013)."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import String, Table, cast, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError, SAWarning

from aggregator.config.sources import parse_sources
from aggregator.crawl.state import sync_sources
from aggregator.models import Item, ItemTopic
from aggregator.store.database import Database
from aggregator.store.ingest import store_entries
from aggregator.store.rows import insert_rows
from tests.test_storage import SOURCES, _entry

COLUMNS = ("item_id", "topic", "score", "passed", "method", "explanation")
TABLE: Table = ItemTopic.__table__  # type: ignore[assignment]
# A reporter's zone, not UTC: both paths must store the same instant, and read it back in UTC.
WHEN = datetime(2026, 3, 8, 1, 30, tzinfo=timezone(timedelta(hours=-6)))
WHY = {"hits": [{"term": "cártel", "weight": 1.5}], "features": [["frontera [onter]", -0.25]], "note": "“x” \u2028"}


def _items(db: Database) -> list[int]:
    with db.session() as session:
        sync_sources(session, parse_sources(SOURCES, Path("sources.toml")))
        entries = [_entry("a", f"g{n}", f"https://a.example/{n}", title=f"Story {n}") for n in range(4)]
        store_entries(session, "a", entries, now=datetime(2026, 3, 8, tzinfo=UTC))
        return list(session.scalars(select(Item.id).order_by(Item.id)))


def _stored(db: Database) -> dict[tuple[int, str], tuple[Any, ...]]:
    """Each row as read through the column types, and as the database holds it (every column cast to text)."""
    with db.session() as session:
        rows = session.execute(select(TABLE)).all()
        raw = session.execute(select(*(cast(c, String) for c in TABLE.c if c.name not in ("item_id", "topic")),
                                     TABLE.c.item_id, TABLE.c.topic)).all()  # fmt: skip
    as_text = {(r[-2], r[-1]): tuple(r)[:-2] for r in raw}
    return {(r.item_id, r.topic): (*tuple(r)[2:], as_text[(r.item_id, r.topic)]) for r in rows}


def test_the_rows_are_those_sqlalchemy_would_store(db: Database) -> None:
    first, second, third, fourth = _items(db)
    rows = [(first, "cartels", 0.91, True, "rules+model", WHY), (second, "cartels", 0.0, False, "model", {}),
            (first, "terrorism", 1e-9, False, "rules", {"hits": []})]  # fmt: skip
    same = {"classified_at": WHEN, "classifier": "2026-03-08T00:00:00+00:00"}
    with db.session() as session:
        insert_rows(session, TABLE, COLUMNS, rows, same)
    ours = _stored(db)
    with db.session() as session:  # the same rows for the other two items, through SQLAlchemy's executemany
        session.execute(TABLE.delete())
        moved = [dict(zip(COLUMNS, ({first: third, second: fourth}[r[0]], *r[1:]), strict=True)) | same for r in rows]
        session.execute(insert(TABLE), moved)
    theirs = {({third: first, fourth: second}[k[0]], k[1]): v for k, v in _stored(db).items()}
    assert ours == theirs
    assert len(ours) == 3
    score, passed, method, why, at, name, _ = ours[(first, "cartels")]
    assert (score, passed, method, why, name) == (0.91, True, "rules+model", WHY, same["classifier"])
    assert at == WHEN.astimezone(UTC) and at.tzinfo is not None
    assert ours[(second, "cartels")][1] is False


def test_a_column_with_a_default_left_out_is_refused_and_nothing_stored(db: Database) -> None:
    first = _items(db)[0]
    with db.session() as session, pytest.raises(ValueError, match="item_topics: no value for explanation"):
        insert_rows(session, TABLE, COLUMNS[:5], [(first, "cartels", 0.5, True, "rules")],
                    {"classified_at": WHEN, "classifier": "x"})  # fmt: skip
    assert _stored(db) == {}


def test_a_row_short_or_long_of_a_value_is_refused_and_nothing_stored(db: Database) -> None:
    # Rows are stored column by column: one row without its explanation (or with one value too many) must not
    # shift or cut the others' columns.
    first, second = _items(db)[:2]
    good = (first, "cartels", 0.5, True, "rules", {})
    for odd in ((second, "cartels", 0.5, True, "rules"), (second, "cartels", 0.5, True, "rules", {}, "extra")):
        with db.session() as session, pytest.raises(ValueError, match="every row must hold 6 values"):
            insert_rows(session, TABLE, COLUMNS, [good, odd], {"classified_at": WHEN, "classifier": "x"})
    assert _stored(db) == {}


def test_a_row_the_database_refuses_fails_the_statement_whole(db: Database) -> None:
    first = _items(db)[0]
    rows = [(first, "cartels", 0.5, True, "rules", {}), (first, "cartels", 0.6, False, "rules", {})]
    with pytest.raises(IntegrityError), db.session() as session:  # the primary key (item, topic) twice
        insert_rows(session, TABLE, COLUMNS, rows, {"classified_at": WHEN, "classifier": "x"})
    assert _stored(db) == {}


def test_no_rows_is_no_statement(db: Database) -> None:
    with db.session() as session:
        insert_rows(session, TABLE, COLUMNS, [], {"classified_at": WHEN, "classifier": "x"})
    assert _stored(db) == {}


def test_migration_0013_leaves_one_topic_index_and_goes_both_ways(db: Database) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    from aggregator.models import Base
    from aggregator.store.database import migrate

    def indexes() -> set[str]:
        return {str(ix["name"]) for ix in inspect(db.engine).get_indexes("item_topics")}

    assert indexes() == {"ix_item_topics_search"}
    with db.engine.connect() as conn, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # SQLite's expression index on items, not reflected
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert not [d for d in diff if "item_topics" in repr(d)], diff
    config = Config()
    config.set_main_option("script_location", "aggregator.models:migrations")
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0012")
    assert indexes() == {"ix_item_topics_search", "ix_item_topics_topic_passed"}
    migrate(db.engine)
    assert indexes() == {"ix_item_topics_search"}
    with db.session() as session:  # a topic filter still reads the index, not the table
        plan = " ".join(str(r) for r in session.execute(text(_explain(db) + FILTER)).all())
    assert "ix_item_topics_search" in plan, plan


FILTER = "SELECT count(*) FROM item_topics WHERE topic = 'cartels' AND passed"


def _explain(db: Database) -> str:
    return "EXPLAIN QUERY PLAN " if db.engine.dialect.name == "sqlite" else "EXPLAIN "
