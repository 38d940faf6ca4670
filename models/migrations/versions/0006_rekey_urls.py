"""Re-key items: the URL key keeps identifying query parameters and unwraps redirector links (issue #11).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 20:00:00

The old key kept only the query parameters courlan knows (`id`, `p`, `page`...), so articles whose links differ
in another one (`watch?v=`, `?ArticleID=`, `click.phdo?i=`) or only in a redirector's target (Google Alerts) were
filed as one item. Every stored key is recomputed from the URL it was made from (the page's canonical URL when one
was stored, else the link). Items that now share a key are true duplicates (a Google Alerts link and the publisher's
own, one escape written two ways): the oldest stays; the others' sightings move to it, and so do their labels, topic
verdicts and story where the unique constraints allow (on a clash the keeper's verdict and the newer label win); then
they are deleted. The full-text index follows by itself (SQLite's triggers, PostgreSQL's generated column).

Items wrongly merged before cannot be split: only the first article's text was stored, the others left a sighting.

Why this imports `aggregator.store.urls.url_key` instead of freezing a copy: the point is that stored keys equal
what ingest computes, or every later copy of a stored article is filed as new. A frozen copy would be right today
and stale after the next change to url_key; the import always writes the keys of the code being installed. The cost:
what 0006 writes follows urls.py, so any change to url_key's output needs its own re-key migration (rekey_items
below does the work), which a database upgraded straight to the newer code then runs as a no-op.

Downgrade leaves the keys as they are: the old key function left with the code that used it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from aggregator.models import base as models_base
from aggregator.store.urls import url_key

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
BATCH = 2000

_TIME = models_base.UTCDateTime()
_items = sa.table(
    "items",
    sa.column("id", sa.Integer),
    sa.column("source_id", sa.String),
    sa.column("url", sa.Text),
    sa.column("canonical_url", sa.Text),
    sa.column("url_key", sa.String),
    sa.column("title", sa.Text),
    sa.column("published_at", _TIME),
    sa.column("first_seen_at", _TIME),
    sa.column("story_id", sa.Integer),
)
_sightings = sa.table("sightings", sa.column("item_id", sa.Integer))
_topics = sa.table("item_topics", sa.column("item_id", sa.Integer), sa.column("topic", sa.String))
_labels = sa.table(
    "labels",
    sa.column("id", sa.Integer),
    sa.column("item_id", sa.Integer),
    sa.column("topic", sa.String),
    sa.column("value", sa.Boolean),
    sa.column("created_at", _TIME),
    sa.column("origin", sa.String),
)
_stories = sa.table(
    "stories",
    sa.column("id", sa.Integer),
    sa.column("title", sa.Text),
    sa.column("first_seen_at", _TIME),
    sa.column("last_seen_at", _TIME),
    sa.column("first_item_id", sa.Integer),
    sa.column("first_source_id", sa.String),
    sa.column("item_count", sa.Integer),
    sa.column("source_count", sa.Integer),
    sa.column("updated_at", _TIME),
)
# The new key of each item whose key changes; a temporary table, so that a million items need no million-entry dict.
_rekey = sa.Table(
    "rekey_items_0006",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("url_key", sa.String(768), nullable=True),
    prefixes=["TEMPORARY"],
)


def upgrade() -> None:
    changed, merged = rekey_items(op.get_bind())
    log.info("url keys: %d item(s) re-keyed, %d duplicate(s) merged into older items", changed, merged)


def downgrade() -> None:
    pass


def rekey_items(conn: sa.Connection) -> tuple[int, int]:
    """Give every keyed item the key url_key computes now, merging items that come to share one.

    Returns (items whose key changed, duplicates merged away).
    """
    _rekey.create(conn)
    try:
        changed = _record_new_keys(conn)
        merged = sum(_merge(conn, ids) for ids in _colliding(conn))
        # Two passes: PostgreSQL checks the unique index row by row, and keys may move from one item to another.
        moving = _items.c.id.in_(sa.select(_rekey.c.id))
        conn.execute(sa.update(_items).where(moving).values(url_key=None))
        new_key = sa.select(_rekey.c.url_key).where(_rekey.c.id == _items.c.id).scalar_subquery()
        conn.execute(sa.update(_items).where(moving).values(url_key=new_key))
    finally:
        _rekey.drop(conn)
    return changed, merged


def _record_new_keys(conn: sa.Connection) -> int:
    changed = 0
    last_id = 0
    while True:
        rows = conn.execute(
            sa.select(_items.c.id, _items.c.url, _items.c.canonical_url, _items.c.url_key)
            .where(_items.c.id > last_id, _items.c.url_key.is_not(None))
            .order_by(_items.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return changed
        last_id = rows[-1].id
        # Ingest keys an item by its link; the article's canonical URL replaces that key once fetched.
        new = [
            {"id": r.id, "url_key": (url_key(r.canonical_url) if r.canonical_url else None) or url_key(r.url)}
            for r in rows
        ]
        moved = [n for n, r in zip(new, rows, strict=True) if n["url_key"] != r.url_key]
        if moved:
            conn.execute(sa.insert(_rekey), moved)
            changed += len(moved)


def _colliding(conn: sa.Connection) -> list[list[int]]:
    """Groups of item ids that will share a key: new keys that repeat, or equal a key that stays."""
    repeated = (
        sa.select(_rekey.c.url_key).where(_rekey.c.url_key.is_not(None)).group_by(_rekey.c.url_key)
        .having(sa.func.count() > 1)
    )  # fmt: skip
    staying = _items.c.id.not_in(sa.select(_rekey.c.id))
    taken = sa.select(_rekey.c.url_key).join(_items, _items.c.url_key == _rekey.c.url_key).where(staying)
    keys = {k for (k,) in conn.execute(repeated)} | {k for (k,) in conn.execute(taken)}
    groups = []
    for key in sorted(keys):
        ids = set(conn.scalars(sa.select(_rekey.c.id).where(_rekey.c.url_key == key)))
        ids |= set(conn.scalars(sa.select(_items.c.id).where(_items.c.url_key == key, staying)))
        groups.append(sorted(ids))
    return groups


def _merge(conn: sa.Connection, ids: list[int]) -> int:
    """Fold the items `ids` into the oldest of them. Returns how many were deleted."""
    rows = sorted(
        conn.execute(sa.select(_items.c.id, _items.c.first_seen_at, _items.c.story_id).where(_items.c.id.in_(ids))),
        key=lambda r: (r.first_seen_at, r.id),
    )
    keep, duplicates = rows[0], rows[1:]
    keep_story = keep.story_id
    touched: set[int] = set()
    for dup in duplicates:
        conn.execute(sa.update(_sightings).where(_sightings.c.item_id == dup.id).values(item_id=keep.id))
        kept_topics = sa.select(_topics.c.topic).where(_topics.c.item_id == keep.id)
        conn.execute(
            sa.update(_topics)
            .where(_topics.c.item_id == dup.id, _topics.c.topic.not_in(kept_topics))
            .values(item_id=keep.id)
        )
        conn.execute(sa.delete(_topics).where(_topics.c.item_id == dup.id))
        _move_labels(conn, dup.id, keep.id)
        if dup.story_id is not None:
            touched.add(dup.story_id)
            if keep_story is None:
                keep_story = dup.story_id
                conn.execute(sa.update(_items).where(_items.c.id == keep.id).values(story_id=keep_story))
        conn.execute(sa.delete(_items).where(_items.c.id == dup.id))
    _refresh_stories(conn, touched)
    return len(duplicates)


def _move_labels(conn: sa.Connection, dup_id: int, keep_id: int) -> None:
    """A person's labels move to the kept item; where both items have one for a topic, the newer answer wins."""
    kept = {r.topic: r for r in conn.execute(sa.select(_labels).where(_labels.c.item_id == keep_id))}
    for label in conn.execute(sa.select(_labels).where(_labels.c.item_id == dup_id)).all():
        mine = kept.get(label.topic)
        if mine is None:
            conn.execute(sa.update(_labels).where(_labels.c.id == label.id).values(item_id=keep_id))
            continue
        if label.created_at > mine.created_at:
            newer = {"value": label.value, "created_at": label.created_at, "origin": label.origin}
            conn.execute(sa.update(_labels).where(_labels.c.id == mine.id).values(**newer))
        conn.execute(sa.delete(_labels).where(_labels.c.id == label.id))


def _event_time(published: datetime | None, first_seen: datetime) -> datetime:
    # As aggregator.stories.store.event_time: the item's date, unless missing or later than its first sighting.
    return first_seen if published is None or published > first_seen else published


def _refresh_stories(conn: sa.Connection, story_ids: set[int]) -> None:
    """Counts, headline and first reporter of stories that lost an item; a story left empty is deleted."""
    now = datetime.now(UTC)
    for story_id in sorted(story_ids):
        items = conn.execute(
            sa.select(_items.c.id, _items.c.source_id, _items.c.title, _items.c.published_at, _items.c.first_seen_at)
            .where(_items.c.story_id == story_id)
        ).all()  # fmt: skip
        if not items:
            conn.execute(sa.delete(_stories).where(_stories.c.id == story_id))
            continue
        first = min(items, key=lambda it: (_event_time(it.published_at, it.first_seen_at), it.id))
        values: dict[str, Any] = {
            "title": first.title,
            "first_seen_at": min(it.first_seen_at for it in items),
            "last_seen_at": max(it.first_seen_at for it in items),
            "first_item_id": first.id,
            "first_source_id": first.source_id,
            "item_count": len(items),
            "source_count": len({it.source_id for it in items}),
            "updated_at": now,
        }
        conn.execute(sa.update(_stories).where(_stories.c.id == story_id).values(**values))
