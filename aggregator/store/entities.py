"""Queries on `entities` and `entity_mentions`, one per question asked (classify/entity_tagging.py writes them)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, distinct, func, select
from sqlalchemy.orm import Session

from aggregator.config.entities import fold_key
from aggregator.models import Entity, EntityMention, Item


@dataclass(frozen=True)
class ItemEntity:
    """An entity named in one item: who it is, and where and how the item names it."""

    entity_id: str
    name: str
    kind: str
    fields: list[str]  # title, summary, text: where it is named
    surfaces: list[str]  # the words as written, most frequent first
    count: int  # occurrences in all fields


@dataclass(frozen=True)
class EntityCount:
    entity_id: str
    name: str
    kind: str
    items: int  # items that name it


def entity_rows(session: Session) -> dict[str, Entity]:
    """Every entity of the file as last matched, by id (a few hundred at most)."""
    return {e.id: e for e in session.scalars(select(Entity).order_by(Entity.id))}


def resolve_entity(session: Session, value: str) -> tuple[str | None, list[str]]:
    """The id `value` names (an id, or any alias, whatever the case and accents), else None and the closest ids."""
    rows = entity_rows(session)
    wanted = value.strip().lower()
    if wanted in rows:
        return wanted, []
    key = fold_key(value)
    names: dict[str, str] = {}
    for e in rows.values():
        for alias in [e.name, *(e.details or {}).get("aliases", [])]:
            names.setdefault(fold_key(str(alias)), e.id)
    if key in names:
        return names[key], []
    close = difflib.get_close_matches(key, list(names) + list(rows), n=5, cutoff=0.6)
    return None, sorted({names.get(c, c) for c in close})


def item_entity_ids(session: Session, item_ids: Sequence[int]) -> dict[int, list[str]]:
    """Item id to the ids of the entities it names, in id order; items naming none are absent."""
    out: dict[int, list[str]] = {}
    if not item_ids:
        return out
    rows = session.execute(
        select(EntityMention.item_id, EntityMention.entity_id)
        .where(EntityMention.item_id.in_(item_ids))
        .distinct()
        .order_by(EntityMention.item_id, EntityMention.entity_id)
    )
    for item_id, entity_id in rows:
        out.setdefault(item_id, []).append(entity_id)
    return out


def item_entities(session: Session, item_id: int) -> list[ItemEntity]:
    """The entities one item names, the most named first (title mentions ahead)."""
    rows = session.execute(
        select(EntityMention.entity_id, EntityMention.field, EntityMention.surface, EntityMention.count)
        .where(EntityMention.item_id == item_id)
        .order_by(EntityMention.entity_id, EntityMention.id)
    ).all()
    known = entity_rows(session)
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    out = []
    for entity_id, mentions in grouped.items():
        surfaces: dict[str, int] = {}
        for m in mentions:
            surfaces[m[2]] = surfaces.get(m[2], 0) + m[3]
        entity = known.get(entity_id)
        fields = [f for f in ("title", "summary", "text") if any(m[1] == f for m in mentions)]
        name, kind = (entity.name, entity.kind) if entity else (entity_id, "other")
        ranked = sorted(surfaces, key=lambda s: -surfaces[s])
        out.append(ItemEntity(entity_id, name, kind, fields, ranked, sum(surfaces.values())))
    return sorted(out, key=lambda e: ("title" not in e.fields, -e.count, e.entity_id))


def pairs() -> Select[int, str]:
    """(item_id, entity_id) once per item and entity it names: what counts join to, so that an entity named three
    times in an item counts once."""
    return select(EntityMention.item_id, EntityMention.entity_id).distinct()


def top_entities(
    session: Session, *, item_ids: Select[Any] | None = None, since: datetime | None = None, limit: int = 50
) -> list[EntityCount]:
    """The entities named by the most items (of `item_ids`, first seen since `since`), with how many items."""
    counted = func.count(distinct(EntityMention.item_id))
    query = select(EntityMention.entity_id, counted).group_by(EntityMention.entity_id)
    if item_ids is not None:
        query = query.where(EntityMention.item_id.in_(item_ids))
    if since is not None:
        query = query.join(Item, Item.id == EntityMention.item_id).where(Item.first_seen_at >= since)
    rows = session.execute(query.order_by(counted.desc(), EntityMention.entity_id).limit(limit)).all()
    known = entity_rows(session)
    return [
        EntityCount(eid, known[eid].name if eid in known else eid, known[eid].kind if eid in known else "other", n)
        for eid, n in rows
    ]


def entity_outlets(session: Session, entity_id: str, limit: int = 15) -> list[tuple[str, int]]:
    """The sources whose items name the entity most: (source id, items)."""
    counted = func.count(distinct(Item.id))
    rows = session.execute(
        select(Item.source_id, counted)
        .join(EntityMention, EntityMention.item_id == Item.id)
        .where(EntityMention.entity_id == entity_id)
        .group_by(Item.source_id)
        .order_by(counted.desc(), Item.source_id)
        .limit(limit)
    )
    return [(source_id, int(n)) for source_id, n in rows]


def co_mentioned(session: Session, entity_id: str, limit: int = 15) -> list[EntityCount]:
    """The entities named in the same items as this one, by how many items they share."""
    own = select(EntityMention.item_id).where(EntityMention.entity_id == entity_id)
    counted = func.count(distinct(EntityMention.item_id))
    rows = session.execute(
        select(EntityMention.entity_id, counted)
        .where(EntityMention.item_id.in_(own), EntityMention.entity_id != entity_id)
        .group_by(EntityMention.entity_id)
        .order_by(counted.desc(), EntityMention.entity_id)
        .limit(limit)
    ).all()
    known = entity_rows(session)
    return [
        EntityCount(eid, known[eid].name if eid in known else eid, known[eid].kind if eid in known else "other", n)
        for eid, n in rows
    ]


def story_entity_ids(session: Session, story_ids: Sequence[int]) -> dict[int, list[str]]:
    """Story id to the entities its items name, the most named first."""
    out: dict[int, list[str]] = {}
    if not story_ids:
        return out
    counted = func.count(distinct(EntityMention.item_id))
    rows = session.execute(
        select(Item.story_id, EntityMention.entity_id, counted)
        .join(EntityMention, EntityMention.item_id == Item.id)
        .where(Item.story_id.in_(story_ids))
        .group_by(Item.story_id, EntityMention.entity_id)
        .order_by(Item.story_id, counted.desc(), EntityMention.entity_id)
    )
    for story_id, entity_id, _ in rows:
        if story_id is not None:
            out.setdefault(int(story_id), []).append(entity_id)
    return out
