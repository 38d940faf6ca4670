"""Put new items into stories in the database: join a recent story or start one, then refresh story facts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from aggregator.models import Item, Story
from aggregator.parse.dates import EARLIEST, shifted
from aggregator.stories.grouping import Doc, group

BATCH = 20_000  # new items clustered per pass; older context is reloaded for each pass


@dataclass
class StoryReport:
    items: int = 0
    joined: int = 0  # items that joined an existing story
    created: int = 0  # new stories


def item_body() -> Any:
    """SQL for an item's best text: the full text when there is one, else the feed's summary."""
    return func.coalesce(func.nullif(Item.text, ""), Item.summary_text)


def event_time(published: datetime | None, first_seen: datetime) -> datetime:
    """When the item's event happened as far as we know: its date, unless missing, in the future or implausibly old
    (a year-1 date, stored before dates were checked, would otherwise head its story and overflow the window)."""
    if published is None or published > first_seen or published < EARLIEST:
        return first_seen
    return published


def _docs(session: Session, where: object) -> list[Doc]:
    body = item_body()
    rows = session.execute(
        select(
            Item.id,
            Item.title,
            func.substr(body, 1, 1600),
            Item.language,
            Item.source_id,
            Item.published_at,
            Item.first_seen_at,
            Item.story_id,
        ).where(where)  # type: ignore[arg-type]
    )
    return [Doc(r[0], r[1] or "", r[2] or "", r[3] or "", r[4], event_time(r[5], r[6]), r[7]) for r in rows]


def docs_of_items(session: Session, item_ids: Iterable[int]) -> list[Doc]:
    """The given items as the clusterer sees them (headline, lead, language, time), in no particular order."""
    ids = list(item_ids)
    return _docs(session, Item.id.in_(ids)) if ids else []


STORY_LOCK_KEY = 0x61676753  # "aggS": a one-key advisory lock, apart from the migration lock


def assign_stories(session: Session, *, now: datetime, window: timedelta) -> StoryReport:
    """Give every item without a story one; existing assignments never change."""
    if session.get_bind().dialect.name == "postgresql":
        # Distributed workers group at once: one at a time (until this transaction ends), or one event gets two stories.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": STORY_LOCK_KEY})
    report = StoryReport()
    while True:
        ids = session.scalars(
            select(Item.id).where(Item.story_id.is_(None)).order_by(Item.first_seen_at, Item.id).limit(BATCH)
        ).all()
        if not ids:
            return report
        new_docs = _docs(session, Item.id.in_(ids))
        earliest = min(d.time for d in new_docs)
        # Context: members of stories still active within the window of the earliest new item.
        recent = select(Story.id).where(Story.last_seen_at >= shifted(earliest, -window))
        context = _docs(session, Item.story_id.in_(recent))
        docs = context + new_docs
        grouping = group(docs, window)
        created: dict[object, int] = {}
        changes: list[dict[str, int]] = []
        for doc, key in zip(docs, grouping.keys, strict=True):
            if doc.story_id is not None:
                continue
            if key in grouping.new_keys:
                if key not in created:
                    story = Story(title=doc.title, first_seen_at=now, last_seen_at=now, updated_at=now)
                    session.add(story)
                    session.flush()
                    created[key] = story.id
                    report.created += 1
                story_id = created[key]
            else:
                story_id = key
                report.joined += 1
            changes.append({"item_id": doc.item_id, "story_id": story_id})
        _set_story_ids(session, changes)
        refresh_stories(session, {c["story_id"] for c in changes}, now=now)
        report.items += len(changes)


def _set_story_ids(session: Session, changes: list[dict[str, int]]) -> None:
    if changes:
        table: Table = Item.__table__  # type: ignore[assignment]
        stmt = update(table).where(table.c.id == bindparam("item_id")).values(story_id=bindparam("new_story_id"))
        session.execute(stmt, [{"item_id": c["item_id"], "new_story_id": c["story_id"]} for c in changes])


def refresh_stories(session: Session, story_ids: Iterable[int], *, now: datetime) -> None:
    """Recompute each story's first/last sighting, counts, headline and first reporter from its items."""
    ids = sorted(set(story_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = session.execute(
            select(Item.story_id, Item.id, Item.source_id, Item.title, Item.published_at, Item.first_seen_at).where(
                Item.story_id.in_(chunk)
            )
        ).all()
        by_story: dict[int, list[tuple[int, str, str, datetime | None, datetime]]] = {}
        for r in rows:
            by_story.setdefault(r[0] or 0, []).append((r[1], r[2], r[3], r[4], r[5]))
        values = []
        for story_id, items in by_story.items():
            first = min(items, key=lambda it: (event_time(it[3], it[4]), it[0]))
            values.append(
                {
                    "sid": story_id,
                    "title": first[2],
                    "first_seen_at": min(it[4] for it in items),
                    "last_seen_at": max(it[4] for it in items),
                    "first_item_id": first[0],
                    "first_source_id": first[1],
                    "item_count": len(items),
                    "source_count": len({it[1] for it in items}),
                    "updated_at": now,
                }
            )
        if values:
            table: Table = Story.__table__  # type: ignore[assignment]
            stmt = update(table).where(table.c.id == bindparam("sid"))
            session.execute(stmt, values)
