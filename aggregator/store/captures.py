"""The index of captures: one row per WARC response record (or failed write), an item's versions, retention."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aggregator.models import Capture, Item
from aggregator.store.ingest import storable_text
from aggregator.store.warc import Written

PAGE, FEED = "page", "feed"
REMOVED = "capture: removed by retention ([capture] keep_days / max_total_mb)"


@dataclass(frozen=True)
class Versions:
    """What was captured of one item: its article page's versions (oldest first) and the feed body that first
    carried it; `failures` are the captures that could not be written (a full disk), newest first."""

    pages: list[Capture]
    feed: Capture | None
    failures: list[Capture]

    @property
    def edited(self) -> bool:
        """The page was captured with different bodies: the outlet changed it after it was first fetched."""
        return len({c.digest for c in self.pages}) > 1

    @property
    def latest(self) -> Capture | None:
        return self.pages[-1] if self.pages else self.feed


def record_capture(
    session: Session,
    *,
    kind: str,
    url: str,
    captured_at: datetime,
    source_id: str | None,
    item_id: int | None,
    http_status: int | None,
    content_type: str | None,
    written: Written | None,
    error: str | None = None,
) -> Capture:
    """Add one index row: a written record (`written`) or a failed write (`error`)."""
    row = Capture(
        kind=kind,
        url=storable_text(url),
        captured_at=captured_at,
        source_id=source_id,
        item_id=item_id,
        http_status=http_status,
        content_type=storable_text(content_type)[:500] if content_type else None,
        warc_file=written.warc_file if written else None,
        offset=written.offset if written else None,
        length=written.length if written else None,
        digest=written.digest if written else None,
        error=storable_text(error)[:2000] if error else None,
    )
    session.add(row)
    session.flush()
    return row


def last_digest(session: Session, *, kind: str, url: str, source_id: str | None, item_id: int | None) -> str | None:
    """The digest of the newest written capture of the same page (by item) or feed (by source and URL)."""
    query = select(Capture.digest).where(Capture.kind == kind, Capture.warc_file.is_not(None))
    if kind == PAGE and item_id is not None:
        query = query.where(Capture.item_id == item_id)
    else:
        query = query.where(Capture.source_id == source_id, Capture.url == url)
    return session.scalar(query.order_by(Capture.captured_at.desc(), Capture.id.desc()).limit(1))


def item_versions(session: Session, item: Item) -> Versions:
    """The item's captured page versions, and the capture of the feed body in which it was first seen."""
    rows = list(
        session.scalars(
            select(Capture).where(Capture.item_id == item.id, Capture.kind == PAGE).order_by(Capture.captured_at)
        )
    )
    pages = [c for c in rows if c.warc_file is not None]
    failures = [c for c in reversed(rows) if c.warc_file is None]
    # The fetch that first saw the item captured its source's body just before storing it.
    feed = session.scalar(
        select(Capture)
        .where(
            Capture.source_id == item.source_id,
            Capture.kind == FEED,
            Capture.captured_at <= item.first_seen_at,
            Capture.warc_file.is_not(None),
        )
        .order_by(Capture.captured_at.desc(), Capture.id.desc())
        .limit(1)
    )
    return Versions(pages, feed, failures)


def first_page_captures(session: Session, item_ids: Iterable[int]) -> dict[int, Capture]:
    """Item id to the first written capture of its article page: what the outlet said when it was first fetched."""
    ids = list(item_ids)
    if not ids:
        return {}
    first: dict[int, Capture] = {}
    rows = session.scalars(
        select(Capture)
        .where(Capture.item_id.in_(ids), Capture.kind == PAGE, Capture.warc_file.is_not(None))
        .order_by(Capture.captured_at.desc(), Capture.id.desc())
    )
    for row in rows:  # newest first, so the oldest one of each item is written last
        assert row.item_id is not None
        first[row.item_id] = row
    return first


def forget_files(session: Session, warc_files: Iterable[str]) -> int:
    """Mark the captures in removed WARC files as removed (the rows stay: when and what was captured is kept)."""
    names = list(warc_files)
    if not names:
        return 0
    result = session.execute(
        update(Capture)
        .where(Capture.warc_file.in_(names))
        .values(warc_file=None, offset=None, length=None, error=REMOVED)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
