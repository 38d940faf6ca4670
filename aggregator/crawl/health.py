"""Per-source health and per-crawl summaries, read from the sources, fetches and items tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aggregator.models import Fetch, Item, Sighting, Source

# A source with nothing new for this long is flagged as possibly stale.
STALE_AFTER = timedelta(days=14)


@dataclass(frozen=True)
class CrawlLine:
    """One source's result in one crawl."""

    source_id: str
    outcome: str
    http_status: int | None
    new: int
    updated: int
    unchanged: int
    duplicates: int
    fetches: int
    error: str | None


def crawl_summary(session: Session, crawl_id: str) -> list[CrawlLine]:
    """Aggregate the fetches of one crawl per source; the primary fetch's outcome wins."""
    rows = session.execute(select(Fetch).where(Fetch.crawl_id == crawl_id).order_by(Fetch.id)).scalars()
    lines: dict[str, CrawlLine] = {}
    for f in rows:
        prev = lines.get(f.source_id)
        if prev is None:
            lines[f.source_id] = CrawlLine(
                f.source_id, f.outcome, f.http_status, f.new, f.updated, f.unchanged, f.duplicates, 1, f.error
            )
            continue
        lines[f.source_id] = CrawlLine(
            f.source_id,
            prev.outcome if prev.outcome == "error" or f.outcome != "error" else "partial",
            prev.http_status,
            prev.new + f.new,
            prev.updated + f.updated,
            prev.unchanged + f.unchanged,
            prev.duplicates + f.duplicates,
            prev.fetches + 1,
            prev.error or f.error,
        )
    return sorted(lines.values(), key=lambda line: line.source_id)


@dataclass(frozen=True)
class SourceHealth:
    """What `sources check` shows for one source."""

    source_id: str
    name: str
    kind: str
    enabled: bool
    status: str
    last_success_at: datetime | None
    last_error: str | None
    error_streak: int
    items_7d: int
    items_total: int
    avg_latency_ms: int | None
    next_check_at: datetime | None


def source_health(session: Session, now: datetime, *, stale_after: timedelta = STALE_AFTER) -> list[SourceHealth]:
    """Health of every configured source, worst first."""
    week_ago = now - timedelta(days=7)
    recent = dict(
        session.execute(
            select(Sighting.source_id, func.count()).where(Sighting.seen_at >= week_ago).group_by(Sighting.source_id)
        ).all()
    )
    total = dict(session.execute(select(Sighting.source_id, func.count()).group_by(Sighting.source_id)).all())
    latency: dict[str, float | None] = dict(
        session.execute(
            select(Fetch.source_id, func.avg(Fetch.duration_ms))
            .where(Fetch.started_at >= week_ago, Fetch.outcome != "error")
            .group_by(Fetch.source_id)
        ).all()
    )
    out = []
    for s in session.scalars(select(Source).where(Source.in_config.is_(True))):
        out.append(
            SourceHealth(
                source_id=s.id,
                name=s.name,
                kind=s.kind,
                enabled=s.enabled,
                status=_status(s, now, stale_after),
                last_success_at=s.last_success_at,
                last_error=s.last_error,
                error_streak=s.error_count,
                items_7d=int(recent.get(s.id, 0)),
                items_total=int(total.get(s.id, 0)),
                avg_latency_ms=_as_int(latency.get(s.id)),
                next_check_at=s.next_check_at,
            )
        )
    order = {"failing": 0, "stale": 1, "never": 2, "warning": 3, "ok": 4, "disabled": 5}
    return sorted(out, key=lambda h: (order.get(h.status, 9), h.source_id))


def _as_int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _status(s: Source, now: datetime, stale_after: timedelta) -> str:
    if not s.enabled:
        return "disabled"
    if s.error_count > 0:
        return "failing"
    if s.last_success_at is None:
        return "never"
    newest = s.last_new_item_at or s.last_success_at
    if s.last_new_item_at is None or now - newest > stale_after:
        return "stale"
    return "ok"


def item_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Item)) or 0)
