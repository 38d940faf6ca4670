"""Store what the entity matcher finds: every item's mentions, which entities file it was matched with, the file's
entities themselves (so that search, pages and the digest can name them without reading the file)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from aggregator.classify.entities import Matcher, Mention
from aggregator.config.entities import EntitySet
from aggregator.models import Entity, EntityMention, EntityScan, Item
from aggregator.store.rows import insert_rows

BATCH = 500
SCANS: Table = EntityScan.__table__  # type: ignore[assignment]
SURFACE_MAX = 200  # entity_mentions.surface; aliases are a few words, so only a freak of spacing reaches it
# Column of `items` read for each field the matcher looks at.
FIELD_COLUMNS = {"title": Item.title, "summary": Item.summary_text, "text": Item.text}


def sync_entities(session: Session, entities: EntitySet) -> bool:
    """Make the `entities` table say what the file says; returns whether it changed."""
    stored = {eid: fp for eid, fp in session.execute(select(Entity.id, Entity.fingerprint))}
    wanted = {e.id for e in entities.entities}
    if set(stored) == wanted and all(fp == entities.fingerprint for fp in stored.values()):
        return False
    session.execute(delete(Entity))
    rows = []
    for e in entities.entities:
        row = e.as_row()
        rows.append({"id": e.id, "name": e.name, "kind": e.kind, "parent": e.parent,
                     "details": {"tags": row["tags"], "aliases": row["aliases"]},
                     "fingerprint": entities.fingerprint})  # fmt: skip
    if rows:
        session.execute(insert(Entity.__table__), rows)  # type: ignore[arg-type]
    return True


def mention_rows(item_id: int, mentions: Sequence[Mention]) -> list[dict[str, Any]]:
    """One row per (entity, field, surface): how often, and where it first occurs."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for m in mentions:
        surface = m.surface[:SURFACE_MAX]
        key = (m.entity_id, m.field, surface)
        row = rows.get(key)
        if row is None:
            rows[key] = {"item_id": item_id, "entity_id": m.entity_id, "field": m.field, "surface": surface,
                         "count": 1, "start": m.start}  # fmt: skip
        else:
            row["count"] += 1
    return list(rows.values())


def match_items(session: Session, matcher: Matcher, ids: Sequence[int], *, now: datetime) -> int:
    """Match the items `ids` and replace their stored mentions; returns how many mentions were stored."""
    stored = 0
    for start in range(0, len(ids), BATCH):
        chunk = list(ids[start : start + BATCH])
        rows = session.execute(select(Item.id, *FIELD_COLUMNS.values()).where(Item.id.in_(chunk))).all()
        found = [r[0] for r in rows]
        session.execute(delete(EntityMention).where(EntityMention.item_id.in_(found)))
        session.execute(delete(EntityScan).where(EntityScan.item_id.in_(found)))
        fields = [(r[0], dict(zip(FIELD_COLUMNS, r[1:], strict=True))) for r in rows]
        stored += _store_matches(session, matcher, fields, now)
    return stored


def match_new_items(session: Session, matcher: Matcher, rows: Sequence[Mapping[str, Any]], *, now: datetime) -> int:
    """Match items stored in this transaction, given as their stored rows (as `tagging.tag_new_items` takes them):
    they have no mentions yet, so nothing is read back or deleted. Returns how many mentions were stored."""
    stored = 0
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        fields = [(r["id"], {name: r[column.key] for name, column in FIELD_COLUMNS.items()}) for r in chunk]
        stored += _store_matches(session, matcher, fields, now)
    return stored


def _store_matches(
    session: Session, matcher: Matcher, items: Sequence[tuple[int, dict[str, Any]]], now: datetime
) -> int:
    mentions: list[dict[str, Any]] = []
    for item_id, fields in items:
        mentions += mention_rows(item_id, matcher.match(fields))
    if mentions:
        session.execute(insert(EntityMention.__table__), mentions)  # type: ignore[arg-type]
    scans = [(item_id,) for item_id, _ in items]
    insert_rows(session, SCANS, ("item_id",), scans, {"fingerprint": matcher.fingerprint, "matched_at": now})
    return len(mentions)


def unmatched_ids(session: Session, fingerprint: str, *, everything: bool = False) -> Iterator[list[int]]:
    """Ids of the items not matched with this fingerprint (never matched, or under another entities.toml), or of
    every item, in chunks, oldest first."""
    query = select(Item.id).order_by(Item.id)
    if not everything:
        current = select(EntityScan.item_id).where(EntityScan.item_id == Item.id, EntityScan.fingerprint == fingerprint)
        query = query.where(~current.exists())
    chunk: list[int] = []
    for item_id in session.scalars(query):
        chunk.append(item_id)
        if len(chunk) == 2000:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
