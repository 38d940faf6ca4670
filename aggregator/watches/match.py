"""Match a watch against the items stored since it last looked, with the search engine, and queue its alerts."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from aggregator.config.watches import WatchConfig
from aggregator.errors import QueryError
from aggregator.models import Item, WatchCursor, WatchDelivery
from aggregator.search.hits import matching, prepare
from aggregator.search.query import parse
from aggregator.search.sql import FTS_ROWID
from aggregator.watches.timing import first_attempt

if TYPE_CHECKING:
    from aggregator.classify.topics import TopicSet

PENDING, SENT = "pending", "sent"


def newest_item_id(session: Session) -> int:
    """The highest item id stored; a crawl's new items are those above what this said before it."""
    return int(session.scalar(select(func.max(Item.id))) or 0)


def matching_ids(
    session: Session, watch: WatchConfig, after: int, upto: int, *, topics: TopicSet | None, zone: tzinfo
) -> list[int]:
    """Ids in (after, upto] that the watch's query matches; raises QueryError for an unknown source or topic."""
    compiled = prepare(session, parse(watch.query), topics, zone)
    found = matching(compiled, Item.id).where(Item.id > after, Item.id <= upto)
    if compiled.dialect == "sqlite" and compiled.text is not None:
        found = found.where(FTS_ROWID > after, FTS_ROWID <= upto)  # FTS5 then reads only that rowid range
    return sorted(session.scalars(found))


def match_new(
    session: Session,
    watch: WatchConfig,
    *,
    now: datetime,
    topics: TopicSet | None,
    zone: tzinfo,
    start_after: int | None = None,
) -> int:
    """Queue an alert per channel for every item stored since the watch last looked; returns how many items.

    A watch seen for the first time starts after `start_after` (the newest id before the crawl that is being
    watched) or, without it, after the newest item: it alerts about what arrives, not about the archive. The cursor
    moves in the caller's transaction, with the queued rows, so a crash loses nothing and queues nothing twice.
    A query that cannot run (it names a source no longer stored...) is recorded on the cursor, which stays put.
    """
    upto = newest_item_id(session)
    cursor = session.get(WatchCursor, watch.id)
    if cursor is None:
        start = upto if start_after is None else min(start_after, upto)
        cursor = WatchCursor(watch_id=watch.id, last_item_id=start, matched_at=now)
        session.add(cursor)
    if upto <= cursor.last_item_id:
        cursor.matched_at, cursor.error = now, None
        return 0
    try:
        ids = matching_ids(session, watch, cursor.last_item_id, upto, topics=topics, zone=zone)
    except QueryError as exc:
        cursor.error = " ".join(str(exc).split())
        return 0
    if ids:
        due = first_attempt(watch, now)
        rows: list[dict[str, Any]] = [
            {"watch_id": watch.id, "item_id": item_id, "channel": channel, "state": PENDING, "attempts": 0,
             "matched_at": now, "next_attempt_at": due}
            for item_id in ids
            for channel in watch.deliver
        ]  # fmt: skip
        insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
        # The unique (watch, item, channel) key: an item already queued (a cursor reset by hand) stays one alert.
        # One cached statement run once per row (executemany), not a VALUES list compiled afresh for every batch.
        session.execute(insert(WatchDelivery.__table__).on_conflict_do_nothing(), rows)  # type: ignore[arg-type]
    cursor.last_item_id, cursor.matched_at, cursor.error = upto, now, None
    return len(ids)
