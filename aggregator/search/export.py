"""Stream stored items, or a query's matches, with their provenance as JSON lines, CSV or Parquet in constant memory."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.models import Item, Sighting
from aggregator.search.hits import prepare, with_cross_topics
from aggregator.search.plan import stream_ids
from aggregator.search.query import parse
from aggregator.store.entities import item_entity_ids
from aggregator.store.tags import passed_topics
from aggregator.text import show_controls

if TYPE_CHECKING:
    from aggregator.classify.topics import TopicSet

FIELDS = [
    "id", "source_id", "sources", "url", "canonical_url", "guid", "title", "summary_text", "authors",
    "language", "published_at", "first_seen_at", "fetched_at", "updated_at", "fulltext_state", "has_text", "topics",
    "story_id", "entities",
]  # fmt: skip
TIMES = ("published_at", "first_seen_at", "fetched_at", "updated_at")
BATCH = 1000
T = TypeVar("T")
# Parquet row groups: big enough for good compression and fast scans, small enough that one in memory is cheap.
ROW_GROUP = 5000


def iter_items(
    session: Session,
    *,
    since: datetime | None = None,
    query: str | None = None,
    topics: TopicSet | None = None,
    zone: tzinfo = UTC,
) -> Iterator[dict[str, Any]]:
    """Items as plain dicts (times as aware UTC datetimes), in id order, one batch in memory at a time.

    Every item, or only those matching `query` (the query language of aggregator.search.query). `since` keeps the items
    first seen at or after it. With `topics` (topics.toml), the query may name cross-topics and `topics` lists the
    cross-topics each item has, as search hits do. The first batch is read at once, so that a malformed query
    (QueryError) or a database error is raised here, before the caller has written a header or created a file.
    """
    rows = _stream(session, since, query, topics, zone)
    first = next(rows, None)
    return itertools.chain([] if first is None else [first], rows)


def _stream(
    session: Session, since: datetime | None, query: str | None, topics: TopicSet | None, zone: tzinfo
) -> Iterator[dict[str, Any]]:
    batches = _every_item(session, since) if query is None else _matching_items(session, query, since, topics, zone)
    for batch in batches:
        yield from _rows(session, batch, topics)
        session.expunge_all()


def _every_item(session: Session, since: datetime | None) -> Iterator[list[Item]]:
    # Keyset pagination: each batch is an index range scan, however deep into the table.
    last_id = 0
    while True:
        query = select(Item).where(Item.id > last_id).order_by(Item.id).limit(BATCH)
        if since is not None:
            query = query.where(Item.first_seen_at >= since)
        batch = list(session.scalars(query))
        if not batch:
            return
        yield batch
        last_id = batch[-1].id


def _matching_items(
    session: Session, query: str, since: datetime | None, topics: TopicSet | None, zone: tzinfo
) -> Iterator[list[Item]]:
    # Ids straight from the search plan (keyset over the full-text matches), then the items: no hits, no snippets.
    compiled = prepare(session, parse(query), topics, zone)
    for ids in stream_ids(session, compiled, "id", BATCH):
        batch = select(Item).where(Item.id.in_(ids)).order_by(Item.id)
        if since is not None:
            batch = batch.where(Item.first_seen_at >= since)
        items = list(session.scalars(batch))
        if items:
            yield items


def _rows(session: Session, batch: list[Item], topics: TopicSet | None) -> Iterator[dict[str, Any]]:
    ids = [i.id for i in batch]
    seen: dict[int, list[str]] = {}
    for item_id, source_id in session.execute(
        select(Sighting.item_id, Sighting.source_id).where(Sighting.item_id.in_(ids)).order_by(Sighting.id)
    ):
        seen.setdefault(item_id, []).append(source_id)
    tags = with_cross_topics(passed_topics(session, ids), topics)
    named = item_entity_ids(session, ids)
    for item in batch:
        row = _row(item, list(dict.fromkeys(seen.get(item.id, [item.source_id]))), tags.get(item.id, {}))
        row["entities"] = named.get(item.id, [])  # the ids of the entities of entities.toml the item names
        yield row


def _row(item: Item, sources: list[str], topics: dict[str, float]) -> dict[str, Any]:
    return {
        "id": item.id,
        "source_id": item.source_id,
        "sources": sources,
        "url": item.url,
        "canonical_url": item.canonical_url,
        "guid": item.guid,
        "title": item.title,
        "summary_text": item.summary_text,
        "authors": [a for a in item.authors.split("; ") if a],
        "language": item.language,
        "published_at": item.published_at,
        "first_seen_at": item.first_seen_at,
        "fetched_at": item.fetched_at,
        "updated_at": item.updated_at,
        "fulltext_state": item.fulltext_state,
        "has_text": bool(item.text),
        "topics": topics,
        "story_id": item.story_id,
    }


def iso(value: datetime | None) -> str | None:
    """A UTC time as ISO 8601 with a Z ("2026-11-24T03:00:00Z"), the form every export uses."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_jsonl(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")
        count += 1
    return count


# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any, *, terminal: bool = False) -> Any:
    """A value as a CSV cell no spreadsheet runs: text starting with = + - @ tab or CR gets a leading apostrophe.

    With `terminal` (the CSV goes to a screen), control and bidi characters are shown as escapes as well.
    """
    if not isinstance(value, str):
        return value
    if terminal:
        value = show_controls(value)
    return "'" + value if value.startswith(FORMULA_START) else value


def write_csv(rows: Iterable[dict[str, Any]], out: IO[str], *, terminal: bool = False) -> int:
    """Write the rows as CSV with a header; every text cell through `csv_cell`."""
    writer = csv.DictWriter(out, fieldnames=FIELDS, extrasaction="ignore")
    writer.writeheader()
    count = 0
    for row in rows:
        flat = dict(
            row,
            sources=" ".join(row["sources"]),
            authors="; ".join(row["authors"]),
            topics=" ".join(f"{t}:{s}" for t, s in row["topics"].items()),
            entities=" ".join(row.get("entities", [])),
            **{name: iso(row[name]) for name in TIMES},
        )
        writer.writerow({key: csv_cell(value, terminal=terminal) for key, value in flat.items()})
        count += 1
    return count


def write_parquet(rows: Iterable[dict[str, Any]], path: Path) -> int:
    """Write the rows to a Parquet file in row groups of ROW_GROUP, holding one group in memory."""
    import pyarrow as pa  # imported here: only Parquet exports pay for loading Arrow
    import pyarrow.parquet as pq

    text, when = pa.string(), pa.timestamp("us", tz="UTC")
    schema = pa.schema(
        [
            ("id", pa.int64()), ("source_id", text), ("sources", pa.list_(text)), ("url", text),
            ("canonical_url", text), ("guid", text), ("title", text), ("summary_text", text),
            ("authors", pa.list_(text)), ("language", text), ("published_at", when), ("first_seen_at", when),
            ("fetched_at", when), ("updated_at", when), ("fulltext_state", text), ("has_text", pa.bool_()),
            ("topics", pa.map_(text, pa.float64())), ("story_id", pa.int64()), ("entities", pa.list_(text)),
        ]
    )  # fmt: skip
    count = 0
    with pq.ParquetWriter(str(path), schema) as writer:
        for group in _chunks(rows, ROW_GROUP):
            writer.write_table(pa.Table.from_pylist(group, schema=schema))
            count += len(group)
    return count


def _chunks(values: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(values)
    while chunk := list(itertools.islice(it, size)):
        yield chunk
