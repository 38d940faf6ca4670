"""Mend stored dates: a publication or update date outside the plausible window becomes NULL, with a note (issue #11).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 21:00:00

Before dates were checked, a feed's year-1 or year-9999 date was stored as written, and from then on every
digest, stats count, search page and story assignment raised OverflowError. Such a date says nothing about the
article: it becomes NULL (the item is then dated by its first sighting, as an undated one is), and the item's
provenance (`raw["notes"]`) says what was dropped, as the parser now says for new entries.

"Plausible" is the parser's window (aggregator.parse.dates, imported so that the two cannot disagree): not before
EARLIEST, and not more than AHEAD after the item was fetched (its first sighting, or the later fetch of its page,
whose date can fill a missing one). `updated_at` is also ingest's own time of a later change, so only its far
ends are checked: before EARLIEST, or more than AHEAD after this migration runs.

Stories keep their headline and first reporter until their next refresh (when an item joins them).
Downgrade leaves the dates NULL: the notes keep what was dropped.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from aggregator.models import base as models_base
from aggregator.parse.dates import EARLIEST, checked, implausible

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
BATCH = 2000

_TIME = models_base.UTCDateTime()
_items = sa.table(
    "items",
    sa.column("id", sa.Integer),
    sa.column("published_at", _TIME),
    sa.column("updated_at", _TIME),
    sa.column("first_seen_at", _TIME),
    sa.column("fetched_at", _TIME),
    sa.column("raw", models_base.JSONType),
)


def upgrade() -> None:
    published, updated = mend_dates(op.get_bind(), datetime.now(UTC))
    log.info("dates: %d publication and %d update date(s) outside the plausible window set to NULL", published, updated)


def downgrade() -> None:
    pass


def mend_dates(conn: sa.Connection, now: datetime) -> tuple[int, int]:
    """Set implausible `published_at` and `updated_at` to NULL, noting each in the item's `raw["notes"]`.

    Returns (publication dates dropped, update dates dropped).
    """
    if conn.dialect.name == "postgresql":
        # Read back in UTC: a year-1 date in a zone west of UTC is a BC date, which psycopg cannot return.
        conn.execute(sa.text("SET LOCAL TIME ZONE 'UTC'"))
    earliest = sa.bindparam("earliest", EARLIEST, type_=_TIME)
    latest = sa.bindparam("latest", now, type_=_TIME)
    # A superset, found without date arithmetic in SQL (it differs between backends); each row is judged below.
    suspect = sa.or_(
        _items.c.published_at < earliest,
        _items.c.published_at > _items.c.first_seen_at,
        _items.c.updated_at < earliest,
        _items.c.updated_at > latest,
    )
    columns = [_items.c[name] for name in ("id", "published_at", "updated_at", "first_seen_at", "fetched_at", "raw")]
    published = updated = 0
    last_id = 0
    while True:
        rows = conn.execute(
            sa.select(*columns).where(suspect, _items.c.id > last_id).order_by(_items.c.id).limit(BATCH)
        ).all()
        if not rows:
            return published, updated
        last_id = rows[-1].id
        changes = []
        for row in rows:
            change = _mended(row, now)
            if change is not None:
                published += change["new_published"] is None and row.published_at is not None
                updated += change["new_updated"] is None and row.updated_at is not None
                changes.append(change)
        if changes:
            conn.execute(
                sa.update(_items)
                .where(_items.c.id == sa.bindparam("item_id"))
                .values(
                    published_at=sa.bindparam("new_published", type_=_TIME),
                    updated_at=sa.bindparam("new_updated", type_=_TIME),
                    raw=sa.bindparam("new_raw", type_=models_base.JSONType),
                ),
                changes,
            )


def _mended(row: Any, now: datetime) -> dict[str, Any] | None:
    """The new published_at, updated_at and raw of one item, or None when its dates are plausible."""
    fetched = max(row.first_seen_at, row.fetched_at)
    published, published_note = row.published_at, None
    if published is not None and implausible(published, fetched):
        published, published_note = checked("published", published, published.isoformat(), fetched)
    updated, updated_note = row.updated_at, None
    if updated is not None and implausible(updated, now):
        updated, updated_note = checked("updated", updated, updated.isoformat(), now)
    notes = [f"{n} (migration 0007)" for n in (published_note, updated_note) if n]
    if not notes:
        return None
    raw = dict(row.raw) if isinstance(row.raw, dict) else {}
    kept = raw.get("notes")
    raw["notes"] = [*(kept if isinstance(kept, list) else []), *notes]
    return {"item_id": row.id, "new_published": published, "new_updated": updated, "new_raw": raw}
