"""Stream stored items with their provenance as JSON lines or CSV, in constant memory."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Item, ItemTopic, Sighting

FIELDS = [
    "id", "source_id", "sources", "url", "canonical_url", "guid", "title", "summary_text", "authors",
    "language", "published_at", "first_seen_at", "fetched_at", "updated_at", "fulltext_state", "has_text", "topics",
]  # fmt: skip
BATCH = 1000


def iter_items(session: Session, *, since: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Items in id order as plain dicts, fetched in batches by keyset so memory stays flat."""
    last_id = 0
    while True:
        query = select(Item).where(Item.id > last_id).order_by(Item.id).limit(BATCH)
        if since is not None:
            query = query.where(Item.first_seen_at >= since)
        batch = list(session.scalars(query))
        if not batch:
            return
        ids = [i.id for i in batch]
        seen: dict[int, list[str]] = {}
        for item_id, source_id in session.execute(
            select(Sighting.item_id, Sighting.source_id).where(Sighting.item_id.in_(ids)).order_by(Sighting.id)
        ):
            seen.setdefault(item_id, []).append(source_id)
        topics: dict[int, dict[str, float]] = {}
        for item_id, topic, score in session.execute(
            select(ItemTopic.item_id, ItemTopic.topic, ItemTopic.score).where(
                ItemTopic.item_id.in_(ids), ItemTopic.passed.is_(True)
            )
        ):
            topics.setdefault(item_id, {})[topic] = round(score, 4)
        for item in batch:
            row = _row(item, list(dict.fromkeys(seen.get(item.id, [item.source_id]))))
            row["topics"] = topics.get(item.id, {})
            yield row
        last_id = ids[-1]
        session.expunge_all()


def _row(item: Item, sources: list[str]) -> dict[str, Any]:
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
        "published_at": _iso(item.published_at),
        "first_seen_at": _iso(item.first_seen_at),
        "fetched_at": _iso(item.fetched_at),
        "updated_at": _iso(item.updated_at),
        "fulltext_state": item.fulltext_state,
        "has_text": bool(item.text),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def write_jsonl(rows: Iterator[dict[str, Any]], out: IO[str]) -> int:
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(rows: Iterator[dict[str, Any]], out: IO[str]) -> int:
    writer = csv.DictWriter(out, fieldnames=FIELDS, extrasaction="ignore")
    writer.writeheader()
    count = 0
    for row in rows:
        flat = dict(
            row,
            sources=" ".join(row["sources"]),
            authors="; ".join(row["authors"]),
            topics=" ".join(f"{t}:{s}" for t, s in row["topics"].items()),
        )
        writer.writerow(flat)
        count += 1
    return count
